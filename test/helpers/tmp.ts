/** Temporary folders for tests, removed at exit. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const made: string[] = []
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true })
})

export function tmpDir(prefix = 'aether-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  made.push(d)
  return d
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Waits until `pred()` is true, polling; throws after `ms`. */
export async function until(pred: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(5)
  }
}
