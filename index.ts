/**
 * The package entry, `aether`: what an app and a test may import. Everything else in the tree is
 * internal and may change without notice.
 *
 * @example
 * import { defineApp, defineJobType } from 'aether'
 * export default defineApp({ machines: { checkout }, jobTypes: [ship] })
 */
export { defineApp, isApp, loadApp, AppError } from './runtime/app.ts'
export type { App, AppSpec } from './runtime/app.ts'
export { defineJobType } from './runtime/jobs/jobTypes.ts'
export type { JobType, StepDef, StepContext, StepFn } from './runtime/jobs/jobTypes.ts'
export { Hub } from './runtime/Hub.ts'
export type { HubFeature, HubOptions } from './runtime/Hub.ts'
export {
  ActorSystem,
  defineService,
  effect,
  exportLog,
  LogReplayer,
  serviceOf,
  ServiceMissingError,
  SimulatedClock,
  SystemClock,
} from './actors/index.ts'
export type { ActorSystemOptions, ReplayResult, Divergence, Clock, ServiceKey } from './actors/index.ts'
export { parseLog, encodeLog, LOG_FORMAT } from './protocol/log.ts'
