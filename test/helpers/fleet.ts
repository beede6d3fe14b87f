/** Streaming for the root fleet's test and benchmark (test/runtime/root/fleet.integration.test.ts, bench/fleet.bench.ts). */
import type { HubSimulator } from '../../runtime/link/HubSimulator.ts'
import { sleep } from './tmp.ts'

/**
 * Every hub appends 2 records every 500 ms (1,200 records/s for 300 hubs) until `stop()`; resolves with the
 * count. Each round appends to every hub and waits for those appends (no hub is starved when the
 * machine is slow), at most 240 rounds.
 */
export function appendUntilStopped(sim: HubSimulator): { done: Promise<number>; stop(): void } {
  let stop = false
  const done = (async () => {
    let n = 0
    for (let i = 0; i < 240 && !stop; i++) {
      const t = Date.now()
      await Promise.all(
        sim.hubs.map((_, j) =>
          sim.append(j, [
            { j, i },
            { j, i, second: true },
          ]),
        ),
      )
      n += 2 * sim.hubs.length
      const wait = 500 - (Date.now() - t)
      if (wait > 0) await sleep(wait)
    }
    return n
  })()
  return { done, stop: () => void (stop = true) }
}
