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

/** Where each of `secrets` occurs in the data folder `dir` (files and decoded entries): `<secret #i>: hit`. */
export async function scanDataForSecrets(dir: string, secrets: string[]): Promise<ScanResult> {
  const all: ScanResult = { files: 0, bytes: 0, entries: 0, hits: [] }
  for (const [i, s] of secrets.entries()) {
    const r = await scanForSecret(dir, s)
    Object.assign(all, { files: r.files, bytes: r.bytes, entries: r.entries })
    all.hits.push(...r.hits.map((h) => `secret #${i}: ${h}`))
  }
  return all
}

/**
 * Where each of `secrets` occurs in captured texts (process output, HTTP responses, exported
 * spans), named by `sources`' keys; the secret itself is never in the answer (it may be printed).
 */
export function scanTexts(sources: Record<string, string | string[]>, secrets: string[]): string[] {
  const hits: string[] = []
  for (const [name, v] of Object.entries(sources)) {
    const texts = Array.isArray(v) ? v : [v]
    texts.forEach((t, n) => {
      for (const [i, s] of secrets.entries()) if (t.includes(s)) hits.push(`secret #${i} in ${name}[${n}]`)
    })
  }
  return hits
}
