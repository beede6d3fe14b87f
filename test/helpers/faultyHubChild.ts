/**
 * A hub in a child process with the `faulty` machine in three hostings (XState, pure, pure with the
 * memo), for the tests that an actor throwing never ends the process:
 * `node --import tsx test/helpers/faultyHubChild.ts DIR TOKEN`. Prints `URL <url>` once it listens.
 * It subscribes to its actors the way runtime features do (a `next` listener, no `error` one),
 * which is what made XState rethrow an actor's error and end the process.
 */
import { hostPure } from '../../actors/index.ts'
import { Hub } from '../../runtime/Hub.ts'
import { hubFeatures } from '../../runtime/hubFeatures.ts'
import { faulty } from '../fixtures/faulty.ts'

const [dir, token] = process.argv.slice(2)
const machines = {
  faulty,
  faultyPure: hostPure(faulty, { effects: [], memo: false }),
  faultyMemo: hostPure(faulty),
}
const hub = await Hub.start({ data: dir, token, machines }, hubFeatures())
for (const name of Object.keys(machines)) {
  for (const durable of [true, false]) {
    const path = `${name}-${durable ? 'durable' : 'memory'}`
    if (!hub.system.hosted(path)) await hub.system.spawn(path, name, { durable })
    const live = hub.system.hosted(path)!.actor
    if (typeof live.subscribe === 'function') live.subscribe(() => {})
  }
}
process.stdout.write(`URL ${hub.url}\n`)
process.on('SIGTERM', async () => {
  await hub.close()
  process.exit(0)
})
