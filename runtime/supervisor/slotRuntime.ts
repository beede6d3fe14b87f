/**
 * What a slot's entry script runs: one hub runtime under a supervisor. The supervisor starts it
 * with an IPC channel and these environment variables:
 *
 *   AETHER_MODE         serve | validate | prewarm
 *   AETHER_ROLE         active | candidate
 *   AETHER_RUNTIME_ID   this process's runtimeInstanceId (stable for its boot)
 *   AETHER_PORT         the slot's reserved port; AETHER_DATA the hub's LevelDB folder
 *   AETHER_TOKEN        the hub token; AETHER_VERSION, AETHER_BUILD_ID, AETHER_SLOT from the manifest
 *
 * Modes:
 * - serve: the hub starts at once as the active runtime, then marks itself good.
 * - validate: the hub starts as a candidate on a scratch data folder, so the supervisor can check
 *   its health before trusting it; it refuses every change.
 * - prewarm: the code is loaded and a passive listener on the reserved port answers health
 *   (role candidate) and refuses everything else; the hub's data stays with the active runtime
 *   (LevelDB allows one process). On `{type:'promote'}` the listener closes, the hub starts on the
 *   same port as the active runtime and marks itself good: this is what makes a warm cutover short.
 *
 * Messages to the supervisor: ready {role, port}, good, released. From it: promote {awaitRelease},
 * data-released (the old runtime let go of the data: a promoted runtime waiting for it opens it
 * now), release.
 * The runtime exits when told to release, on SIGTERM/SIGINT, and when the supervisor goes away
 * (the IPC channel disconnects), so a killed supervisor leaves no runtime holding the data.
 */
import { rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { Hub, type RuntimeRole } from '../Hub.ts'
import { hubFeatures } from '../hubFeatures.ts'
import { guardProcess, systemIncident } from '../processLifecycle.ts'
import { UsageError } from '../args.ts'
import { Config, hubToken } from '../config.ts'

export interface SlotRuntimeOptions {
  /** Whether the runtime marks itself good after it is active (a fixture can say no). */
  markGood?: boolean
  /** Extra delay before the runtime reports ready (a slow version). */
  readyDelayMs?: number
}

const send = (m: Record<string, unknown>) => {
  // the supervisor is gone: the disconnect handler ends this process (the callback takes the error,
  // which would otherwise be emitted on `process`)
  if (process.send && process.connected) process.send(m, undefined, {}, () => {})
}

export async function runSlot(opts: SlotRuntimeOptions = {}): Promise<void> {
  let config: Config
  try {
    config = Config.load({}, undefined, 'slot runtime')
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`aether slot runtime: ${err.message}`)
    process.exit(2)
  }
  const mode = config.get('mode')
  const port = config.get('port')
  const data = config.get('data')
  const version = config.get('version')
  const slot = config.get('slot')
  const runtimeInstanceId = config.get('runtime-id') ?? `rt-${process.pid}`
  let hub: Hub | undefined
  let passive: Server | undefined
  let ending = false
  // An error nobody caught is an incident (sent to the supervisor over IPC); a fatal one closes
  // the hub (its journal flushed) and exits 70, and the supervisor restarts the runtime.
  const guard = guardProcess({ name: 'slot runtime' })
  guard.attach({
    record: (i) => hub?.system.incident(systemIncident(i)),
    close: async () => {
      passive?.closeAllConnections()
      passive?.close()
      await hub?.close()
    },
  })

  const startHub = async (role: RuntimeRole, data: string, features = hubFeatures({ nats: config.get('nats') })) => {
    hub = await Hub.start(
      {
        port,
        data,
        token: hubToken(config),
        role,
        runtimeInstanceId,
        version,
        slot,
        hostId: `hub-${slot ?? ''}`,
      },
      features,
    )
  }
  const markGood = async () => {
    if (opts.markGood === false) return
    // Self-check through the real HTTP stack before vouching for this version.
    const r = await fetch(`${hub!.url}/api/health`)
    const h = (await r.json()) as any
    if (r.ok && h.ok && h.role === 'active' && h.runtimeInstanceId === runtimeInstanceId)
      send({ type: 'good', runtimeInstanceId })
  }
  const end = async (code = 0) => {
    if (ending) return
    ending = true
    const t0 = Date.now()
    try {
      passive?.closeAllConnections()
      passive?.close()
      await hub?.close()
    } finally {
      send({ type: 'released', runtimeInstanceId, closeMs: Date.now() - t0 })
      process.exit(code)
    }
  }
  process.once('SIGTERM', () => void end(0))
  process.once('SIGINT', () => void end(0))
  process.on('disconnect', () => void end(0))
  // The supervisor tells a promoted runtime when the old one has let go of the data (its
  // `released` message, or its exit): the lock is taken on that word instead of by polling.
  let dataReleased = false
  let onDataReleased: (() => void) | undefined
  process.on('message', (m: any) => {
    if (m?.type === 'release') void end(0)
    else if (m?.type === 'promote') void promote(m.awaitRelease === true)
    else if (m?.type === 'data-released') {
      dataReleased = true
      onDataReleased?.()
    }
  })
  /** Resolves once the supervisor says the data is free, or after `ms`. */
  const dataFree = (ms: number) =>
    new Promise<void>((resolve) => {
      if (dataReleased) return resolve()
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        onDataReleased = undefined
        resolve()
      }
      onDataReleased = done
    })

  const promote = async (awaitRelease: boolean) => {
    if (mode !== 'prewarm' || hub) return
    const got = Date.now()
    try {
      if (passive) {
        passive.closeAllConnections()
        await new Promise<void>((r) => passive!.close(() => r()))
        passive = undefined
      }
      // The supervisor sends promote when it stops forwarding, before the old runtime has drained
      // and released the data. A supervisor that relays the release (`awaitRelease`) says when the
      // lock is free; otherwise (or if the lock is still held then) LevelDB's lock is the
      // hand-over: keep trying until it is free.
      const started = Date.now()
      const closeMs = started - got
      const until = started + config.get('promote-deadline-ms')
      // Built while the old runtime closes; a start refused by the lock (DATA_DIR_LOCKED comes
      // before any feature installs) leaves them unused for the next try.
      const features = hubFeatures({ nats: config.get('nats') })
      if (awaitRelease) await dataFree(config.get('promote-deadline-ms'))
      let tries = 0
      let lockedUntil = Date.now()
      for (;;) {
        try {
          tries++
          await startHub('active', data, features)
          break
        } catch (err) {
          if ((err as any)?.code !== 'DATA_DIR_LOCKED' || Date.now() > until) throw err
          await new Promise((r) => setTimeout(r, Date.now() - started < 200 ? 1 : 5))
          lockedUntil = Date.now()
        }
      }
      send({
        type: 'ready',
        role: 'active',
        port,
        runtimeInstanceId,
        timing: {
          passiveCloseMs: closeMs,
          lockWaitMs: lockedUntil - started,
          hubStartMs: Date.now() - lockedUntil,
          tries,
        },
      })
      await markGood()
    } catch (err) {
      send({ type: 'failed', message: (err as Error).message })
      await end(1)
    }
  }

  if (opts.readyDelayMs) await new Promise((r) => setTimeout(r, opts.readyDelayMs))
  if (mode === 'serve') {
    await startHub('active', data)
    send({ type: 'ready', role: 'active', port, runtimeInstanceId })
    await markGood()
  } else if (mode === 'validate') {
    await startHub('candidate', data)
    send({ type: 'ready', role: 'candidate', port, runtimeInstanceId })
  } else {
    // prewarm: warm the code paths the cutover will take (LevelDB's binding, recovery, the HTTP stack) on
    // a scratch folder, so that promotion costs only opening the real data.
    const scratch = `${data}.prewarm-${runtimeInstanceId}`
    const warm = await Hub.start(
      { port: 0, data: scratch, token: 'prewarm', role: 'candidate', runtimeInstanceId },
      hubFeatures({}),
    )
    await (await fetch(`${warm.url}/api/health`)).text()
    await warm.close()
    rmSync(scratch, { recursive: true, force: true })
    passive = createServer((req, res) => {
      const health = req.method === 'GET' && req.url?.split('?')[0] === '/api/health'
      const body = health
        ? {
            ok: true,
            role: 'candidate',
            passive: true,
            runtimeInstanceId,
            version: version ?? null,
            slot: slot ?? null,
          }
        : {
            error: 'CANDIDATE_PASSIVE',
            message: `runtime ${runtimeInstanceId} is a prewarmed candidate: it takes no traffic and refuses commands until cutover`,
            role: 'candidate',
            runtimeInstanceId,
          }
      const text = JSON.stringify(body)
      res.writeHead(health ? 200 : 503, {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      })
      res.end(text)
    })
    await new Promise<void>((resolve, reject) => {
      passive!.once('error', reject)
      passive!.listen(port, '127.0.0.1', () => resolve())
    })
    send({ type: 'ready', role: 'candidate', port, runtimeInstanceId })
  }
}
