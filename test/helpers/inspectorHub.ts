/** Starts a hub with the inspector feature in a temp data folder; `stop()` closes it and removes the folder. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Hub, type HubOptions } from '../../runtime/Hub.ts'
import { InspectorServer, type InspectorOptions } from '../../runtime/inspector/InspectorServer.ts'

export interface TestHub {
  hub: Hub
  inspector: InspectorServer
  url: string
  wsUrl: string
  token: string
  stop(): Promise<void>
}

export async function startInspectorHub(opts: HubOptions = {}, iopts: InspectorOptions = {}): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'aether-insp-'))
  const inspector = new InspectorServer(iopts)
  const hub = await Hub.start({ data: dir, token: 'test-token', port: 0, ...opts }, [inspector])
  return {
    hub,
    inspector,
    url: hub.url,
    wsUrl: hub.url.replace(/^http/, 'ws'),
    token: hub.token,
    async stop() {
      await hub.close()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
