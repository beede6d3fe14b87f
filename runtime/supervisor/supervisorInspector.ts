/**
 * The supervisor's own actors in the inspector. Its actor system (`updateTransition`, hosted at
 * `supervisor.update`) gets the inspector's sockets on the supervisor's public listener, under
 * `/api/supervisor/inspector/` (the supervisor's own prefix, so the proxy does not take them);
 * everything else, `/inspector` and its feed included, reaches the active runtime as before. The
 * page served through the supervisor opens both feeds (inspector/src/supervisorPane.ts). Read and
 * operator rights are the hub's: the supervisor's token is the runtimes' token.
 */
import type { ActorSystem } from '../../actors/index.ts'
import type { HubServer } from '../http/HubServer.ts'
import { ReadAccess } from '../http/ReadAccess.ts'
import { InspectorServer } from '../inspector/InspectorServer.ts'
import type { LevelStore } from '../LevelStore.ts'

/** Where the supervisor's feed is mounted: `${SUPERVISOR_INSPECTOR}/feed`. */
export const SUPERVISOR_INSPECTOR = '/api/supervisor/inspector'

/** Serves the supervisor's actors on its listener; close the returned server with the supervisor. */
export function serveSupervisorInspector(server: HubServer, system: ActorSystem, store: LevelStore): InspectorServer {
  const inspector = new InspectorServer({ mount: SUPERVISOR_INSPECTOR, socketsOnly: true })
  inspector.attachTo({ server, system, store, access: new ReadAccess(server) })
  return inspector
}
