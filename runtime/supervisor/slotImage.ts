/**
 * Slot images: a folder holding one runnable hub version and its `manifest.json`
 * `{format: 'aether.slot/1', version, buildId, entry, checksum}`. The checksum is the sha256 over
 * every other file of the folder (sorted relative paths, each path and its bytes), so a partial
 * copy, a stray edit or a wrong manifest is caught before anything runs from the slot.
 */
import { createHash } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

export const SLOT_FORMAT = 'aether.slot/1'

export interface SlotManifest {
  format: typeof SLOT_FORMAT
  version: string
  buildId: string
  /** The script the supervisor runs with node, relative to the slot folder. */
  entry: string
  checksum: string
}

/** A slot that cannot be used, with a stable code. */
export class SlotError extends Error {
  constructor(
    readonly code: 'NO_MANIFEST' | 'BAD_MANIFEST' | 'NO_ENTRY' | 'CHECKSUM_MISMATCH' | 'NO_SOURCE',
    message: string,
  ) {
    super(message)
    this.name = 'SlotError'
  }
}

function files(dir: string, out: string[] = [], root = dir): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    const st = statSync(p)
    if (st.isDirectory()) files(p, out, root)
    else if (st.isFile()) out.push(relative(root, p))
  }
  return out
}

/** sha256 of every file but the manifest, in sorted path order. */
export function checksumDir(dir: string): string {
  const h = createHash('sha256')
  for (const f of files(dir)
    .filter((f) => f !== 'manifest.json')
    .sort()) {
    h.update(f + '\0')
    h.update(readFileSync(join(dir, f)))
    h.update('\0')
  }
  return 'sha256:' + h.digest('hex')
}

/** Reads and checks a slot folder: the manifest's fields, the entry, the checksum. */
export function verifySlot(dir: string): SlotManifest {
  const mf = join(dir, 'manifest.json')
  if (!existsSync(mf)) throw new SlotError('NO_MANIFEST', `${dir} has no manifest.json`)
  let m: any
  try {
    m = JSON.parse(readFileSync(mf, 'utf8'))
  } catch (err) {
    throw new SlotError('BAD_MANIFEST', `${mf} is not JSON: ${(err as Error).message}`)
  }
  if (!m || typeof m !== 'object' || m.format !== SLOT_FORMAT)
    throw new SlotError('BAD_MANIFEST', `${mf}: "format" must be "${SLOT_FORMAT}"`)
  for (const k of ['version', 'buildId', 'entry', 'checksum'] as const) {
    if (typeof m[k] !== 'string' || !m[k])
      throw new SlotError('BAD_MANIFEST', `${mf}: field "${k}" must be a non-empty string`)
  }
  if (m.entry.includes('..') || m.entry.startsWith('/'))
    throw new SlotError('BAD_MANIFEST', `${mf}: "entry" must be a path inside the slot`)
  if (!existsSync(join(dir, m.entry)))
    throw new SlotError('NO_ENTRY', `${dir}: the entry ${m.entry} named by the manifest is missing`)
  const sum = checksumDir(dir)
  if (sum !== m.checksum)
    throw new SlotError(
      'CHECKSUM_MISMATCH',
      `${dir}: checksum ${sum.slice(0, 19)}… does not match the manifest's ${String(m.checksum).slice(0, 19)}…`,
    )
  return m as SlotManifest
}

/** Reads a slot's manifest without verifying it (for status), or null. */
export function readManifest(dir: string): SlotManifest | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'))
  } catch {
    return null
  }
}

/** Writes `manifest.json` for the folder's current content (used to build images). */
export function sealSlot(dir: string, fields: { version: string; buildId: string; entry: string }): SlotManifest {
  const m: SlotManifest = { format: SLOT_FORMAT, ...fields, checksum: checksumDir(dir) }
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n')
  return m
}

/**
 * Installs `source` into `slotDir`: verify the source, copy it beside the slot, verify the copy,
 * then swap it in. Idempotent: running it again after a crash yields the same slot.
 */
export function installSlot(source: string, slotDir: string): SlotManifest {
  if (!existsSync(source)) throw new SlotError('NO_SOURCE', `no such version folder ${source}`)
  verifySlot(source)
  const staging = `${slotDir}.installing`
  rmSync(staging, { recursive: true, force: true })
  cpSync(source, staging, { recursive: true })
  const m = verifySlot(staging)
  rmSync(slotDir, { recursive: true, force: true })
  renameSync(staging, slotDir)
  return m
}
