/**
 * The supervisor's proxy in one process: a backend with a WebSocket server, the proxy in front of
 * it, a client through the proxy. What a warm switch does to a tunnelled socket.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import WebSocket, { WebSocketServer } from 'ws'
import { RuntimeProxy } from '../../../runtime/supervisor/RuntimeProxy.ts'

const listen = (s: Server) =>
  new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)))

const proxy = suite('RuntimeProxy - tunnels in a warm switch')

proxy('drain ends the runtime side at once and sends the client its 1012 only when the proxy resumes', async () => {
  const backend = createServer()
  const wss = new WebSocketServer({ server: backend })
  const backendClosed = new Promise<void>((r) => wss.on('connection', (ws) => ws.on('close', () => r())))
  const port = await listen(backend)
  const p = new RuntimeProxy(5000)
  const front = createServer((req, res) => void p.http(req, res))
  front.on('upgrade', (req, sock, head) => void p.upgrade(req, sock, head))
  const frontPort = await listen(front)
  p.resume(port)
  try {
    const client = new WebSocket(`ws://127.0.0.1:${frontPort}/feed`)
    await new Promise((r, j) => client.once('open', r).once('error', j))
    let closedWhilePaused: boolean | undefined
    const closed = new Promise<number>((r) =>
      client.once('close', (code) => {
        closedWhilePaused = p.paused
        r(code)
      }),
    )
    p.pause()
    await p.drain(1000)
    // the runtime's end is gone (it can close), the client has heard nothing yet
    await backendClosed
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
    assert.is(closedWhilePaused, undefined, 'no close reached the client during the gap')
    assert.is(p.openTunnels, 0)
    p.resume(port)
    assert.is(await closed, 1012)
    assert.is(closedWhilePaused, false, 'the client saw the close after the resume')
  } finally {
    await p.close()
    wss.close()
    front.close()
    backend.close()
  }
})

proxy.run()
