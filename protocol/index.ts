// protocol/: wire contracts and pure codecs. Imports nothing of ours; runs in Node and the browser.
export { LOG_FORMAT, isSnapshotLine, LogFormatError, parseLogHeader, LogReader, parseLog, encodeLog } from './log.ts'
export type { LogHeader, LogEventLine, LogSnapshotLine, LogLine, ParsedLog } from './log.ts'
export { diffJson, jsonEqual } from './jsonDiff.ts'
export type { JsonDiff } from './jsonDiff.ts'
export { InspectionKind, toStatelyEvent } from './inspection.ts'
export type {
  ActorStatus,
  FeedSnapshot,
  FeedActorEvent,
  FeedEventEvent,
  FeedSnapshotEvent,
  FeedEvent,
} from './inspection.ts'
export { ProtocolError, ProtocolErrorCode } from './errors.ts'
export {
  PROTOCOL_VERSION,
  Kind,
  DeliveryClass,
  MAX_FRAME_BYTES,
  MAX_BATCH,
  validateEnvelope,
  decodeFrame,
  decodeEnvelope,
  encodeFrame,
  encodeBatchOfJson,
  messageId,
  envelope,
} from './envelope.ts'
export type { Envelope } from './envelope.ts'
export { encodeTraceParent, decodeTraceParent } from './traceparent.ts'
export type { TraceParent } from './traceparent.ts'
export { envelopeSchema, messageSchemas, messageSubjects, protocolJsonSchema } from './messages.ts'
export type { MessageSubject, MessageSpec } from './messages.ts'
export { str, lit, int, num, bool, anyJson, arr, dict, obj } from './schema.ts'
export type { Schema } from './schema.ts'
export { TRAFFIC_CLASSES, TRAFFIC_SUBJECT, NODE_ID, subjects, hubOfSubject } from './subjects.ts'
export type { TrafficClass } from './subjects.ts'
export { IncidentClass, worst, branch, channelStability, formatTree } from './reliability.ts'
export type {
  Readiness,
  ReadinessNode,
  DegradedCapability,
  ReliabilityIncident,
  StabilityLevel,
  ChannelStability,
  ReliabilityReport,
} from './reliability.ts'
export {
  decodeStatelyFrame,
  decodeXStateInspectFrame,
  ExternalFrameError,
  ExternalFrameCode,
  MAX_EXTERNAL_FRAME,
} from './externalInspect.ts'
export type { StatelyFrame, XStateInspectFrame, InspectedEvent, V4State } from './externalInspect.ts'
export {
  MAX_MEMBER_MESSAGE,
  MEMBER_ACTIONS,
  REQUEST_RESULTS,
  memberMessageSchemas,
  memberSubjects,
  encodeMemberMessage,
  decodeMemberMessage,
} from './memberLink.ts'
export type {
  MemberAction,
  RequestResult,
  MemberUpdateState,
  MemberRequestRecord,
  MemberSnapshot,
  MemberAsk,
  MemberRequest,
  MemberReply,
  MemberMessage,
} from './memberLink.ts'
