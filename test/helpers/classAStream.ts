/**
 * A Class A producer and its exactly-once check at the root, for the transport tests (the hub's
 * sidecar killed, the supervisor's sidecar killed and kept across an update): records `{n}`
 * appended in batches of 5 while `start()`ed; `checkAtRoot` reads every record the root applied
 * for the hub's stream and asserts cursors 1..n in order, none twice, none confirmed missing.
 */
import * as assert from 'uvu/assert'
import { sleep } from './tmp.ts'

type Post = (path: string, body: unknown) => Promise<{ status: number } | null>

export function classAProducer(post: Post, stream: string, pauseMs: number) {
  let n = 0
  let on = false
  let running: Promise<void> = Promise.resolve()
  const confirmed = new Set<number>()
  const attempted = new Set<number>()
  const loop = async () => {
    while (on) {
      const batch = Array.from({ length: 5 }, () => ++n)
      for (const k of batch) attempted.add(k)
      const r = await post(`/api/streams/${stream}`, { payloads: batch.map((k) => ({ n: k })) })
      if (r?.status === 201) for (const k of batch) confirmed.add(k)
      await sleep(pauseMs)
    }
  }
  return {
    confirmed,
    attempted,
    start() {
      on = true
      running = loop()
    },
    async stop() {
      on = false
      await running
    },
  }
}

/** Every record the root applied for `hub`'s `stream`, checked against the producer. */
export async function checkAtRoot(
  root: { get(path: string): Promise<any> },
  hub: string,
  stream: string,
  p: ReturnType<typeof classAProducer>,
): Promise<Array<{ cursor: number; payload: { n: number } }>> {
  const records: Array<{ cursor: number; payload: { n: number } }> = []
  for (let after = 0; ; ) {
    const page = await root.get(`/api/streams/${hub}/${stream}?after=${after}&limit=5000&refused=0`)
    records.push(...page.messages)
    if (page.next === null) break
    after = page.next
  }
  for (const [i, r] of records.entries()) assert.is(r.cursor, i + 1, `cursor at position ${i}`)
  const seen = new Map<number, number>()
  for (const r of records) seen.set(r.payload.n, (seen.get(r.payload.n) ?? 0) + 1)
  assert.is([...seen.values()].filter((c) => c > 1).length, 0, 'duplicated records')
  assert.is([...p.confirmed].filter((k) => !seen.has(k)).length, 0, 'lost confirmed records')
  assert.is([...seen.keys()].filter((k) => !p.attempted.has(k)).length, 0, 'records nobody appended')
  return records
}
