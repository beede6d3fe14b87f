/**
 * Looks for a secret in a data folder: the raw bytes of every file (journal logs, tables) and,
 * because LevelDB may compress table blocks, every decoded key and value of the database too.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { LevelStore } from '../../runtime/LevelStore.ts'

export interface ScanResult {
  files: number
  bytes: number
  entries: number
  hits: string[]
}

export async function scanForSecret(dir: string, secret: string): Promise<ScanResult> {
  const needle = Buffer.from(secret)
  const r: ScanResult = { files: 0, bytes: 0, entries: 0, hits: [] }
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else {
        const buf = readFileSync(p)
        r.files++
        r.bytes += buf.length
        if (buf.includes(needle)) r.hits.push(`file ${p}`)
      }
    }
  }
  walk(dir)
  const store = await LevelStore.open(dir)
  try {
    for await (const [k, v] of store.db.iterator()) {
      r.entries++
      if (String(k).includes(secret) || String(v).includes(secret)) r.hits.push(`entry ${k}`)
    }
  } finally {
    await store.close()
  }
  return r
}
