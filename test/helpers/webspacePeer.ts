/** A Node member of a webspace over the `/yws` WebSocket (the browser's client, on `ws`). */
import WebSocket from 'ws'
import { WebspaceClient, webspaceUrl } from '../../runtime/browser/webspaceClient.ts'

export interface WsPeer {
  client: WebspaceClient
  ws: WebSocket
  closed: Promise<{ code: number; reason: string }>
  /** Closes the socket; the client stays usable (reconnect with `connectPeer(..., peer.client)`). */
  close(): void
  /** Closes the socket and destroys the client (its awareness timer included). */
  destroy(): void
}

/** Connects a client; resolves once its first sync finished. */
export function connectPeer(
  url: string,
  name: string,
  token: string,
  client = new WebspaceClient(name),
): Promise<WsPeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(webspaceUrl(url, name, token))
    ws.binaryType = 'nodebuffer'
    let closedResolve!: (v: { code: number; reason: string }) => void
    const closed = new Promise<{ code: number; reason: string }>((r) => (closedResolve = r))
    const peer: WsPeer = {
      client,
      ws,
      closed,
      close: () => ws.close(),
      destroy: () => {
        ws.close()
        client.destroy()
      },
    }
    ws.on('open', () => client.attach((f) => ws.readyState === ws.OPEN && ws.send(f)))
    ws.on('message', (data: Buffer) => client.receive(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)))
    ws.on('close', (code, reason) => {
      client.detach()
      closedResolve({ code, reason: reason.toString() })
      reject(new Error(`closed before sync: ${code} ${reason}`))
    })
    ws.on('error', () => {})
    const off = client.on('synced', () => {
      off()
      resolve(peer)
    })
  })
}
