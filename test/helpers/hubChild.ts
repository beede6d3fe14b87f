/**
 * A hub in a child process, for kill -9 tests: `node --import tsx test/helpers/hubChild.ts DIR TOKEN [PORT]`.
 * Prints `URL <url>` once it listens.
 */
import { Hub } from '../../runtime/Hub.ts'
import { hubFeatures } from '../../runtime/hubFeatures.ts'

const [dir, token, port] = process.argv.slice(2)
const hub = await Hub.start({ data: dir, token, port: Number(port ?? 0) }, hubFeatures())
process.stdout.write(`URL ${hub.url}\n`)
process.on('SIGTERM', async () => {
  await hub.close()
  process.exit(0)
})
