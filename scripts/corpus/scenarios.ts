/**
 * The corpus's scenarios: real runs driven through the same helpers the integration tests use
 * (test/helpers/rtcPair.ts, udpRelay.ts, jobs.ts, supervisorProcess.ts, slotFixture.ts). Each
 * writes its logs into the folder it is given. See record.ts.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ActorSystem, SimulatedClock } from '../../actors/index.ts'
import { LevelStore } from '../../runtime/LevelStore.ts'
import { LocalWorker } from '../../runtime/jobs/LocalWorker.ts'
import { counter, trafficLight } from '../../machines/index.ts'
import { failures, flaky, ship } from '../../test/corpus/app.ts'
import { jobRig } from '../../test/helpers/jobs.ts'
import { fastLadder, linkValue, openPair, prng, snap, until, type Pair } from '../../test/helpers/rtcPair.ts'
import { buildVersion } from '../../test/helpers/slotFixture.ts'
import { freePort, reapRuntimes, startSupervisor, type SupervisorHandle } from '../../test/helpers/supervisorProcess.ts'
import { RelayNet } from '../../test/helpers/udpRelay.ts'
import { connectPeer } from '../../test/helpers/webspacePeer.ts'
import { tmpDir, until as untilAsync } from '../../test/helpers/tmp.ts'
import { Hub } from '../../runtime/Hub.ts'
import { WebspaceFeature } from '../../runtime/webspace/webspaceFeature.ts'
import { ChannelFeature } from '../../runtime/channel/channelFeature.ts'
import { MemberChannels, WebSocketPath } from '../../runtime/browser/memberChannels.ts'
import WebSocket from 'ws'
import { exportAll } from './exportAll.ts'

/** A scenario: a name (its folder under test/corpus/) and a run that writes its logs there. */
export interface Scenario {
  name: string
  run(dir: string): Promise<void>
}

const timings = fastLadder

async function connected(p: Pair): Promise<void> {
  await p.member.openSession('hub', `${p.memberId}.g0`)
  await until(
    () => linkValue(p.memberSystem, 'hub/peer') === 'open' && linkValue(p.hubSystem, `${p.memberId}/peer`) === 'open',
    10_000,
    'both sides open',
  )
}

async function exportPair(p: Pair, dir: string): Promise<void> {
  await exportAll(p.memberSystem, dir, 'member.')
  await exportAll(p.hubSystem, dir, 'hub.')
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Path loss; `canEscape` false blocks the old session so the ladder climbs to a rebuild. */
async function pathLoss(dir: string, canEscape: boolean): Promise<void> {
  const net = await RelayNet.create()
  const p = await openPair({
    memberWerift: { rewriteCandidate: net.rewrite },
    hubWerift: { rewriteCandidate: net.rewrite },
    timings: canEscape ? { ...timings, iceRestartMs: 8000 } : timings,
  })
  try {
    await connected(p)
    let cam: string | undefined
    if (!canEscape) {
      cam = await p.member.addSubflow('hub', 'camera', { kind: 'camera' })
      p.member.dispatch(cam, { type: 'media.start' })
      await until(() => String(snap(p.memberSystem, cam!).value) === 'live', 5000, 'camera live')
    }
    const n0 = snap(p.memberSystem, 'hub/peer').context.recoveries.length
    net.breakAll()
    if (!canEscape) net.blockSession('member-1.g0')
    await sleep(200)
    for (const k of [1, 2, 3]) p.member.sendMessage('hub', { k })
    await until(
      () =>
        snap(p.memberSystem, 'hub/peer').context.recoveries.length > n0 &&
        linkValue(p.memberSystem, 'hub/peer') === 'open',
      20_000,
      'recovered',
    )
    await until(() => linkValue(p.hubSystem, 'member-1/peer') === 'open', 5000, 'the hub follows')
    if (cam) await until(() => String(snap(p.memberSystem, cam!).value) === 'live', 5000, 'camera live again')
    p.member.sendMessage('hub', { k: 999 })
    await sleep(300)
    await exportPair(p, dir)
  } finally {
    await p.close()
    net.close()
  }
}

const rtcMedia: Scenario = {
  name: 'rtc-media',
  async run(dir) {
    const p = await openPair({ timings })
    try {
      await connected(p)
      const paths: string[] = []
      for (const kind of ['microphone', 'camera', 'screen'] as const)
        paths.push(await p.member.addSubflow('hub', kind, { kind }))
      const st = (x: string) => String(snap(p.memberSystem, x).value)
      for (const x of paths) p.member.dispatch(x, { type: 'media.start' })
      await until(() => paths.every((x) => st(x) === 'live'), 5000, 'all live')
      p.member.dispatch(paths[1], { type: 'media.pause' })
      await until(() => st(paths[1]) === 'paused', 2000, 'camera paused')
      p.member.dispatch(paths[1], { type: 'media.resume' })
      await until(() => st(paths[1]) === 'live', 2000, 'camera resumed')
      ;(p.member.opts.media as any).endAll()
      await until(
        () => paths.every((x) => st(x) === 'live' && snap(p.memberSystem, x).context.counters.recovered >= 1),
        5000,
        'all re-acquired',
      )
      for (const k of [1, 2, 3]) p.member.sendMessage('hub', { k })
      for (const x of paths) p.member.dispatch(x, { type: 'media.stop' })
      await until(() => paths.every((x) => st(x) === 'stopped'), 5000, 'all stopped')
      await sleep(200)
      await exportPair(p, dir)
    } finally {
      await p.close()
    }
  },
}

const rtcGlare: Scenario = {
  name: 'rtc-glare',
  async run(dir) {
    const rnd = prng(0x6e6f)
    const p = await openPair({ delay: () => Math.floor(rnd() * 12), timings })
    try {
      await connected(p)
      const m = () => snap(p.memberSystem, 'hub/peer').context
      const h = () => snap(p.hubSystem, 'member-1/peer').context
      const sig = (sys: ActorSystem, path: string) => snap(sys, path).value.active.signaling
      for (let round = 0; round < 6; round++) {
        const m0 = m().counters.offersMade
        const h0 = h().counters.offersMade
        p.member.dispatch('hub/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
        await sleep(Math.floor(rnd() * 4))
        p.hub.dispatch('member-1/peer', { type: 'peer.negotiate', purpose: 'renegotiate' })
        await until(
          () =>
            sig(p.memberSystem, 'hub/peer') === 'stable' &&
            sig(p.hubSystem, 'member-1/peer') === 'stable' &&
            m().pending === null &&
            h().pending === null &&
            m().neg === null &&
            h().neg === null &&
            m().counters.offersMade > m0 &&
            h().counters.offersMade > h0,
          8000,
          `round ${round} converges`,
        )
      }
      p.member.dispatch('hub/peer', { type: 'peer.rebuild', reason: 'corpus: an explicit rebuild' })
      await until(
        () =>
          m().peerSessionId === 'member-1.g1' &&
          linkValue(p.memberSystem, 'hub/peer') === 'open' &&
          linkValue(p.hubSystem, 'member-1/peer') === 'open',
        10_000,
        'rebuilt',
      )
      await sleep(200)
      await exportPair(p, dir)
    } finally {
      await p.close()
    }
  },
}

const jobs: Scenario = {
  name: 'jobs',
  async run(dir) {
    const store = mkdtempSync(join(tmpdir(), 'aether-corpus-jobs-'))
    const rig = await jobRig([flaky, ship], { dir: store, retention: false } as any)
    try {
      new LocalWorker(rig.queue)
      const settle = async () => {
        await rig.settle()
        await rig.settle()
      }
      // retries with backoff on the simulated clock, then completes
      failures.try = 2
      const a = await rig.queue.submit({ type: 'flaky', key: 'retried' })
      await settle()
      for (let i = 0; i < 3; i++) {
        rig.clock.increment(3000 * 3 ** i)
        await settle()
      }
      // every attempt fails: dead letter
      failures.try = 10
      await rig.queue.submit({ type: 'flaky', key: 'dead' })
      await settle()
      for (let i = 0; i < 4; i++) {
        rig.clock.increment(60_000)
        await settle()
      }
      failures.try = 0
      // a dead letter retried by an operator, then completes
      failures.label = 2
      const c = await rig.queue.submit({ type: 'ship', key: 'requeued', input: { sku: 'A-1' } })
      await settle()
      rig.clock.increment(10)
      await settle()
      failures.label = 0
      await rig.queue.act(c.id, 'retry')
      await settle()
      // paused while delayed for a retry, resumed, completes
      failures.try = 1
      const d = await rig.queue.submit({ type: 'flaky', key: 'paused' })
      await settle()
      await rig.queue.act(d.id, 'pause').catch(() => undefined)
      await settle()
      rig.clock.increment(5000)
      await settle()
      await rig.queue.act(d.id, 'resume').catch(() => undefined)
      await settle()
      rig.clock.increment(5000)
      await settle()
      // stopped while it waits for a retry
      failures.try = 5
      const e = await rig.queue.submit({ type: 'flaky', key: 'stopped' })
      await settle()
      await rig.queue.act(e.id, 'stop').catch(() => undefined)
      await settle()
      failures.try = 0
      // plain ones
      for (const input of [1, { a: 'b' }, 'three']) await rig.queue.submit({ type: 'echo', input })
      await rig.queue.submit({ type: 'sleep', input: { ms: 5 } })
      await settle()
      await sleep(50)
      await settle()
      void a
      await exportAll(rig.system, dir)
    } finally {
      await rig.close()
      rmSync(store, { recursive: true, force: true })
    }
  },
}

const actors: Scenario = {
  name: 'actors',
  async run(dir) {
    const data = mkdtempSync(join(tmpdir(), 'aether-corpus-actors-'))
    const clock = new SimulatedClock(1_700_000_000_000)
    const system = await ActorSystem.open({
      store: await LevelStore.open(data),
      clock,
      machines: { counter, trafficLight },
    })
    try {
      const rnd = prng(7)
      for (let i = 0; i < 6; i++) {
        const path = `light-${i}`
        await system.spawn(path, 'trafficLight', { durable: true, input: i % 3 ? { maxCycles: 3 } : undefined })
        for (let k = 0; k < 12; k++) {
          const r = rnd()
          if (r < 0.12) system.send(path, { type: 'emergency' })
          else if (r < 0.3) system.send(path, { type: 'resume' })
          else if (r < 0.5) system.send(path, { type: 'tick' })
          else if (r < 0.65) system.send(path, { type: 'pedestrian.request' })
          clock.increment(Math.floor(rnd() * 6000))
          await system.flush()
          await sleep(1)
        }
      }
      for (let i = 0; i < 6; i++) {
        const path = `counter-${i}`
        await system.spawn(path, 'counter', { durable: true })
        for (let k = 0; k < 15; k++) {
          const r = rnd()
          if (r < 0.55) system.send(path, { type: 'inc', by: 1 + Math.floor(rnd() * 3) })
          else if (r < 0.7) system.send(path, { type: 'lock' })
          else if (r < 0.85) system.send(path, { type: 'unlock' })
          else system.send(path, { type: 'reset' })
        }
        await system.flush()
      }
      await exportAll(system, dir)
    } finally {
      await system.close()
      rmSync(data, { recursive: true, force: true })
    }
  },
}

/** One `aether supervisor` child process and one update from slot A to `source`. */
function supervisorUpdate(name: string, version: 'v2' | 'broken', args: string[] = []): Scenario {
  return {
    name,
    async run(dir) {
      const tmp = mkdtempSync(join(tmpdir(), 'aether-corpus-sup-'))
      buildVersion(join(tmp, 'slots', 'A'), '1.0.0')
      buildVersion(join(tmp, 'v2'), '2.0.0')
      buildVersion(join(tmp, 'broken'), '2.1.0-broken', 'crash-at-start')
      let sup: SupervisorHandle | undefined
      try {
        sup = await startSupervisor({
          slots: join(tmp, 'slots'),
          data: join(tmp, 'data'),
          port: await freePort(),
          slotPorts: [await freePort(), await freePort()],
          args: ['--countdown-ms', '100', '--min-interval-ms', '0', ...args],
        })
        const r = await sup.post('/api/supervisor/update', { source: join(tmp, version) })
        if (r.status !== 202) throw new Error(`update refused: ${JSON.stringify(r.body)}`)
        const t0 = Date.now()
        for (;;) {
          const s = await sup.status()
          if (s.transition.state === 'idle' && s.transition.attempt?.outcome && s.phase === 'serving') break
          if (Date.now() - t0 > 40_000) throw new Error('the update did not resolve')
          await sleep(100)
        }
        const log = await (await fetch(`${sup.url}/api/supervisor/log`)).text()
        mkdirSync(dir, { recursive: true })
        writeFileSync(join(dir, 'supervisor.update.log'), log)
      } finally {
        await sup?.stop()
        reapRuntimes(join(tmp, 'slots'))
        rmSync(tmp, { recursive: true, force: true })
      }
    },
  }
}

const webspaces: Scenario = {
  name: 'webspace',
  async run(dir) {
    const TOKEN = 'corpus-token'
    const data = tmpDir('aether-corpus-ws-')
    const hub = await Hub.start({ data, token: TOKEN }, [new WebspaceFeature({})])
    const api = async (path: string, body?: unknown) =>
      (
        await fetch(hub.url + path, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        })
      ).json() as Promise<any>
    const text = (p: { client: { doc: any } }) => p.client.doc.getText('t').toString()
    try {
      // backup, edits, restore with two members connected
      const a = await connectPeer(hub.url, 'doc1', TOKEN)
      const b = await connectPeer(hub.url, 'doc1', TOKEN)
      a.client.doc.getText('t').insert(0, 'before backup')
      await untilAsync(() => text(b) === 'before backup', 5000, 'b sees the edit')
      const backup = await api('/api/webspaces/doc1/backup')
      a.client.doc.getText('t').insert(0, 'after ')
      await untilAsync(() => a.client.acked === a.client.sent, 5000, 'a acked')
      await api('/api/webspaces/doc1/restore', { file: backup.lastBackup.file })
      await a.closed
      await b.closed
      // reload keeps the document, reset empties it
      const c = await connectPeer(hub.url, 'doc2', TOKEN)
      c.client.doc.getText('t').insert(0, 'hello')
      await untilAsync(() => c.client.acked === c.client.sent, 5000, 'acked')
      await api('/api/webspaces/doc2/reload')
      await c.closed
      const c2 = await connectPeer(hub.url, 'doc2', TOKEN, c.client)
      await api('/api/webspaces/doc2/reset')
      await c2.closed
      // hub-hosted door-like actors over the HTTP API
      for (const [path, machine] of [
        ['light-http', 'trafficLight'],
        ['counter-http', 'counter'],
      ]) {
        await api('/api/actors', { path, machine, input: machine === 'trafficLight' ? { maxCycles: 1 } : undefined })
        const evs =
          machine === 'counter'
            ? ['inc', 'inc', 'lock', 'inc', 'unlock', 'inc', 'reset']
            : ['tick', 'emergency', 'resume', 'tick', 'tick']
        for (const type of evs) await api(`/api/actors/${path}/events`, { type })
      }
      await sleep(100)
      await exportAll(hub.system, dir)
    } finally {
      await hub.close()
      rmSync(data, { recursive: true, force: true })
    }
  },
}

/** Commands over a member's channel while its direct path is cut or goes silent: failover and back. */
const channels: Scenario = {
  name: 'channels',
  async run(dir) {
    const TOKEN = 'corpus-token'
    const policy = { freezeMs: 300, probeBackoffMs: 200, maxProbeBackoffMs: 800, ackTimeoutMs: 400, maxAttempts: 50 }
    for (const mode of ['cut', 'silent'] as const) {
      const data = tmpDir('aether-corpus-chan-')
      const hub = await Hub.start({ data, token: TOKEN }, [new ChannelFeature({ durable: true })])
      const member = `m-${mode}`
      const path = (id: string) =>
        new WebSocketPath({ url: hub.url, member, token: TOKEN, id, WebSocket, heartbeatMs: 100, deadAfterMs: 1000 })
      const direct = path('direct')
      const ch = new MemberChannels({ member, paths: [direct, path('ws')], policy, channels: ['command'] })
      try {
        await untilAsync(() => ch.active('command') === 'direct', 5000, 'direct active')
        const acks: Promise<void>[] = []
        for (let i = 1; i <= 40; i++) {
          acks.push(ch.command('command', { n: i }))
          if (i === 15) {
            if (mode === 'cut') direct.cut()
            else direct.blackhole = true
          }
          if (i % 10 === 0) await sleep(5)
        }
        await Promise.all(acks)
        direct.blackhole = false
        await untilAsync(() => ch.active('command') === 'direct', 5000, 'back to direct')
        await sleep(100)
        await exportAll(hub.system, dir)
      } finally {
        ch.close()
        await hub.close()
        rmSync(data, { recursive: true, force: true })
      }
    }
  },
}

/** Every scenario, in the order `npm run corpus:refresh` runs them. */
export const scenarios: Scenario[] = [
  channels,
  webspaces,
  { name: 'rtc-ice-restart', run: (dir) => pathLoss(dir, true) },
  { name: 'rtc-rebuild', run: (dir) => pathLoss(dir, false) },
  rtcMedia,
  rtcGlare,
  jobs,
  actors,
  supervisorUpdate('supervisor-warm', 'v2'),
  supervisorUpdate('supervisor-stop', 'v2', ['--memory-budget-mb', '1']),
  supervisorUpdate('supervisor-rollback', 'broken'),
]
