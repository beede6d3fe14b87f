/**
 * The two servers of the sync benchmark, each in its own process so neither shares an event loop
 * with the clients:
 *   node --import tsx bench/syncServers.ts aether DIR    an Aether hub (webspaces feature)
 *   node --import tsx bench/syncServers.ts yref DIR      the reference: y-websocket 1.5's server
 *                                                        utils with y-leveldb persistence
 * Each prints `URL <url>`. The reference answers `GET /persisted` with the count of updates y-leveldb
 * has finished writing and the documents bound to y-leveldb (the Aether hub acknowledges persisted
 * updates on the socket itself).
 */
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { WebSocketServer } from 'ws'

const [mode, dir] = process.argv.slice(2)

if (mode === 'aether') {
  const { Hub } = await import('../runtime/Hub.ts')
  const { WebspaceFeature } = await import('../runtime/webspace/webspaceFeature.ts')
  const hub = await Hub.start({ data: dir, token: 'bench' }, [new WebspaceFeature()])
  process.stdout.write(`URL ${hub.url}\n`)
} else if (mode === 'yref') {
  // CommonJS on purpose: y-websocket's server utils and y-leveldb then share one Yjs instance
  const require = createRequire(import.meta.url)
  const utils = require('y-websocket/bin/utils')
  const Y = require('yjs')
  const { LeveldbPersistence } = require('y-leveldb')
  const ldb = new LeveldbPersistence(dir)
  let persisted = 0
  const bound = new Set<string>()
  // the same binding y-websocket uses with YPERSISTENCE, counting finished writes
  utils.setPersistence({
    provider: ldb,
    bindState: async (docName: string, ydoc: any) => {
      const persistedYdoc = await ldb.getYDoc(docName)
      const newUpdates = Y.encodeStateAsUpdate(ydoc)
      await ldb.storeUpdate(docName, newUpdates)
      Y.applyUpdate(ydoc, Y.encodeStateAsUpdate(persistedYdoc))
      ydoc.on('update', (update: Uint8Array) => {
        ldb.storeUpdate(docName, update).then(() => persisted++)
      })
      // updates that arrive before this point are written with `newUpdates` above, not counted one
      // by one: the benchmark starts editing only once the document is bound
      bound.add(docName)
    },
    writeState: async () => {},
  })
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ persisted, bound: [...bound] }))
  })
  const wss = new WebSocketServer({ noServer: true })
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => utils.setupWSConnection(ws, req)),
  )
  server.listen(0, '127.0.0.1', () => process.stdout.write(`URL http://127.0.0.1:${(server.address() as any).port}\n`))
} else {
  console.error('usage: syncServers.ts aether|yref DIR')
  process.exit(2)
}
