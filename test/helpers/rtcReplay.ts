/**
 * Shows "journaled and replays": exports each durable actor's journal as an aether.log/1 log
 * (snapshot after every event) and replays it with --verify, in process (LogReplayer) and, for
 * the logs named, through the real CLI (`aether replay LOG --machine MODULE --verify`).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportLog, LogReplayer, type ActorSystem } from '../../actors/index.ts'
import { mediaSubflow } from '../../machines/mediaSubflow.ts'
import { peerSession } from '../../machines/peerSession.ts'
import { rtcMember } from '../../machines/rtcMember.ts'
import { LogReader, parseLogHeader } from '../../protocol/log.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
const pure: Record<string, any> = { peerSession, mediaSubflow, rtcMember }
const modules: Record<string, string> = {
  peerSession: 'machines/peerSession.ts',
  mediaSubflow: 'machines/mediaSubflow.ts',
  rtcMember: 'machines/rtcMember.ts',
}

export async function exportText(system: ActorSystem, path: string): Promise<{ text: string; machine: string }> {
  await system.flush()
  const meta = await system.store!.getMeta(path)
  let text = ''
  for await (const chunk of exportLog(system.store!, path, { snapshots: 'all', machine: pure[meta!.machine] }))
    text += chunk
  return { text, machine: meta!.machine }
}

/**
 * Replays every durable actor of `system` that received events; returns per path the result (ok,
 * events). An actor whose journal holds no event (a parent that only hosts children) has nothing
 * to replay or compare, so it is left out rather than counted as verified.
 */
export async function verifyAll(
  system: ActorSystem,
): Promise<Record<string, { ok: boolean; events: number; snapshots: number; divergence?: unknown }>> {
  const out: Record<string, { ok: boolean; events: number; snapshots: number; divergence?: unknown }> = {}
  for (const meta of await system.store!.listMeta()) {
    const { text, machine } = await exportText(system, meta.path)
    const lines = text.trimEnd().split('\n')
    if (lines.length === 1) continue
    const r = new LogReplayer(pure[machine], { verify: true })
    r.start(parseLogHeader(lines[0], 1))
    const reader = new LogReader()
    for (let i = 1; i < lines.length; i++) if (!r.line(reader.line(lines[i], i + 1), i + 1)) break
    const res = r.result()
    out[meta.path] = {
      ok: res.ok,
      events: res.events,
      snapshots: res.snapshotsChecked,
      ...(res.divergence ? { divergence: res.divergence } : {}),
    }
  }
  return out
}

/** Runs the real CLI on one actor's exported log; returns its exit code and output. */
export async function cliVerify(
  system: ActorSystem,
  path: string,
): Promise<{ code: number | null; out: string; file: string }> {
  const { text, machine } = await exportText(system, path)
  const dir = mkdtempSync(join(tmpdir(), 'aether-rtc-log-'))
  const file = join(dir, `${path.replace(/\//g, '_')}.aether.log`)
  writeFileSync(file, text)
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin/aether.mjs'),
      'replay',
      file,
      '--machine',
      join(root, modules[machine]),
      '--export',
      machine,
      '--verify',
    ],
    { encoding: 'utf8', cwd: root },
  )
  const out = (r.stdout ?? '') + (r.stderr ?? '')
  // kept when it did not verify, to look at
  if (r.status === 0) rmSync(dir, { recursive: true, force: true })
  return { code: r.status, out: r.status === 0 ? out : `${out}\n(the log is kept: ${file})`, file }
}
