/**
 * Starts a hub with the inspector feature (and any `features` after it, e.g. jobs) in a temp data
 * folder; `stop()` closes it and removes the folder.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Hub, type HubFeature, type HubOptions } from '../../runtime/Hub.ts'
import { InspectorServer, type InspectorOptions } from '../../runtime/inspector/InspectorServer.ts'

export interface TestHub {
  hub: Hub
  inspector: InspectorServer
  url: string
  wsUrl: string
  token: string
  stop(): Promise<void>
}

export async function startInspectorHub(
  opts: HubOptions = {},
  iopts: InspectorOptions = {},
  features: HubFeature[] = [],
): Promise<TestHub> {
  const dir = mkdtempSync(join(tmpdir(), 'aether-insp-'))
  const inspector = new InspectorServer(iopts)
  const hub = await Hub.start({ data: dir, token: 'test-token', port: 0, ...opts }, [inspector, ...features])
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
