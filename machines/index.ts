export { trafficLight } from './trafficLight.ts'
export { execAction } from './execAction.ts'
export type { ExecStep } from './execAction.ts'
export { counter } from './counter.ts'
export { webspace, webspaceEvents, defaultWebspacePolicy } from './webspace.ts'
export type { WebspaceContext, WebspaceEvent, WebspaceInput, WebspacePolicy } from './webspace.ts'
export { peerSession, coalesce } from './peerSession.ts'
export type {
  PeerSessionContext,
  PeerSessionEvent,
  PeerSessionInput,
  PeerCommand,
  Rung,
  RecoveryRecord,
} from './peerSession.ts'
export { mediaSubflow } from './mediaSubflow.ts'
export type {
  MediaSubflowContext,
  MediaSubflowEvent,
  MediaSubflowInput,
  SubflowCommand,
  SubflowKind,
} from './mediaSubflow.ts'
export { rtcMember } from './rtcMember.ts'
export { mediaRoute, routeEvents, pickTarget } from './mediaRoute.ts'
export type {
  MediaRouteContext,
  MediaRouteEvent,
  MediaRouteInput,
  RouteAttempt,
  RouteAbility,
  RouteCapability,
  RoutePath,
} from './mediaRoute.ts'
export { hubLink } from './hubLink.ts'
export type { HubLinkInput, HubLinkContext, HubLinkEvent, ControlAuthority } from './hubLink.ts'
export { classAStream } from './classAStream.ts'
export type { ClassAStreamInput, ClassAStreamContext, ClassAStreamEvent } from './classAStream.ts'
export { reliabilityView } from './reliabilityView.ts'
export type { ReliabilityViewEvent } from './reliabilityView.ts'
export { rootInboxes } from './rootInboxes.ts'
export type { RootInboxesEvent, RootHubView, RootStreamView } from './rootInboxes.ts'
export { agentSession } from './agentSession.ts'
export { circuitBreaker } from './circuitBreaker.ts'
export { integration } from './integration.ts'
export { updateTransition } from './updateTransition.ts'
export type { Deferral } from './updateTransition.ts'
export { memberRollout } from './memberRollout.ts'
export type { RolloutContext, RolloutEvent, RolloutInput } from './memberRollout.ts'
export { scenarioSwitch, scenarioEvents } from './scenarioSwitch.ts'
export type { ScenarioContext, ScenarioEvent, ScenarioRef, Projection } from './scenarioSwitch.ts'
export {
  createJobMachine,
  Priority,
  MIN_PRIORITY,
  MAX_PRIORITY,
  defaultRetry,
  backoffDelay,
  nextRandom,
  jobStatusOf,
  jobEvents,
} from './job.ts'
export type {
  JobContext,
  JobEvent,
  JobInput,
  JobStatus,
  JobTypeSpec,
  StepSpec,
  RetryPolicy,
  StepRunInput,
  StepParams,
  StepResultEvent,
  JobError,
} from './job.ts'
export { scheduleMachine, nextDue } from './schedule.ts'
export type { ScheduleInput, ScheduleContext, ScheduleEvent } from './schedule.ts'
export { parseCron, cronNext, CronError } from './cron.ts'
export type { Cron } from './cron.ts'
export { semanticChannel, channelEvents, defaultChannelPolicy, bestPath, probeTarget } from './semanticChannel.ts'
export type {
  ChannelContext,
  ChannelEvent,
  ChannelInput,
  ChannelPolicy,
  Delivery,
  PathId,
  PendingCommand,
} from './semanticChannel.ts'
