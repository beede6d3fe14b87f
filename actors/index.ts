export { ActorSystem, ActorRefHandle, checkPath } from './ActorSystem.ts'
export type { ActorSystemOptions, SpawnOptions, ActorInfo, ArchiveRequest } from './ActorSystem.ts'
export { HostedActor, hostedActorOf } from './HostedActor.ts'
export type { SupervisionOptions } from './HostedActor.ts'
export { PureActor, hostPure, pureSpecOf, RESUME_EVENT, STOP_EVENT } from './PureActor.ts'
export type { PureSpec } from './PureActor.ts'
export { SystemClock, SimulatedClock } from './Clock.ts'
export type { Clock } from './Clock.ts'
export { Journal } from './Journal.ts'
export type { FsyncPolicy, CommitSink } from './Journal.ts'
export { GroupCommit } from './GroupCommit.ts'
export type { GroupCommitOptions, CommitSink as GroupCommitSink } from './GroupCommit.ts'
export { JournalCorruptError } from './Store.ts'
export type {
  Store,
  StoreOp,
  ActorMeta,
  ArchivePage,
  ArchiveRecord,
  JournalRecord,
  SnapshotRecord,
  TimerRecord,
  Incident,
} from './Store.ts'
export { Feed } from './Feed.ts'
export type { FeedSubscription, FeedItem, DroppedMarker } from './Feed.ts'
export { ReplayState } from './ReplayState.ts'
export { createInertScope, XSTATE_CHECKED } from './xstateSeams.ts'
export { LogReplayer } from './replay.ts'
export { isV4Machine, V4ReplayState } from './replayV4.ts'
export type { V4Machine } from './replayV4.ts'
export type { ReplayResult, ReplayOptions, Divergence, DivergenceKind, DiffEntry } from './replay.ts'
export { exportLog, machineNeeded } from './exportLog.ts'
export type { ExportOptions, LiveState } from './exportLog.ts'
export { journalStart, JournalGapError } from './journalStart.ts'
export type { JournalStart } from './journalStart.ts'
export {
  deliveryKey,
  effect,
  effectKeyOf,
  effectSeqOf,
  requestKey,
  scheduleRunKey,
  stepKey,
} from './effect.ts'
export { defineService, serviceOf, Services, ServiceMissingError } from './Services.ts'
export type { ServiceKey, ServiceStats } from './Services.ts'
export type { EffectArgs } from './effect.ts'
export { codeHash, machineHash, textHash } from './machineHash.ts'
export { ActorError, EventRejectedError } from './errors.ts'
