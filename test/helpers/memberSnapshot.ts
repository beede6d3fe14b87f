/** A member's runtime snapshot as a member supervisor publishes it (protocol/memberLink.ts), for tests. */
import type { MemberSnapshot } from '../../protocol/index.ts'

export const memberSnapshot = (member: string, over: Partial<MemberSnapshot> = {}): MemberSnapshot => ({
  v: 1,
  t: 'snapshot',
  hub: 'h1',
  member,
  seq: 1,
  boot: 'b',
  at: 0,
  heartbeatMs: 1000,
  supervisor: '0.1.0',
  phase: 'serving',
  ready: true,
  slot: 'A',
  version: '1.0.0',
  buildId: 'b1',
  update: { state: 'idle' },
  requests: [],
  ...over,
})
