/**
 * A member node's side of the member link (protocol/memberLink.ts): the supervisor of a member
 * (`aether supervisor --member-of HUB --member NAME --nats URL`) publishes its compact runtime
 * snapshot to the parent hub and answers the hub's requests (update, cancel, rollback).
 *
 * The supervisor is the one that knows the update state (its `updateTransition`), so it, not the
 * runtime in the slot, speaks for the member; the link also works while the runtime is down.
 *
 * Requests are idempotent by id: the record of a request is written (atomic rename) before the
 * request acts, and a repeated id gets the first answer back, marked `duplicate`. A rollback is an
 * update to the version the inactive slot holds (copied first: the update installs into that slot).
 */
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve as resolvePath } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  decodeMemberMessage,
  encodeMemberMessage,
  memberSubjects,
  NODE_ID,
  ProtocolError,
  type MemberReply,
  type MemberRequest,
  type MemberRequestRecord,
  type MemberSnapshot,
  type RequestResult,
} from '../../protocol/index.ts'
import { other, type Attempt, type UpdateContext } from '../../machines/updateTransition.ts'
import { NatsLink, type NatsMessage } from '../nats/NatsTransport.ts'
import { verifySlot } from './slotImage.ts'
import type { Supervisor } from './Supervisor.ts'

export interface MemberOptions {
  /** The parent hub's id (its AETHER_HUB_ID). */
  hub: string
  /** This member's name. */
  name: string
  nats: string
  heartbeatMs?: number
}

interface Kept {
  record: MemberRequestRecord
  reply: MemberReply
}

const KEEP = 50

export class MemberAgent {
  readonly counters = { published: 0, requests: 0, duplicates: 0, refused: 0, badMessages: 0 }
  readonly boot = randomBytes(6).toString('base64url')
  private seq = 0
  private timer?: NodeJS.Timeout
  private queued = false
  private kept: Kept[]
  private readonly file: string

  constructor(
    private readonly sup: Supervisor,
    readonly opts: MemberOptions,
    private readonly link: NatsLink,
  ) {
    this.file = join(sup.dataDir, 'member-requests.json')
    this.kept = readKept(this.file)
  }

  static start(sup: Supervisor, opts: MemberOptions): MemberAgent {
    for (const [k, v] of [
      ['member-of', opts.hub],
      ['member', opts.name],
    ] as const)
      if (!NODE_ID.test(v)) throw new Error(`--${k} "${v}" must match ${NODE_ID.source}`)
    const link = new NatsLink({ url: opts.nats, name: `aether-member-${opts.name}` })
    link.connected().catch(() => {})
    const agent = new MemberAgent(sup, opts, link)
    link.subscribe(memberSubjects.ask(opts.hub), (m) => agent.onAsk(m))
    link.subscribe(memberSubjects.request(opts.hub, opts.name), (m) => void agent.onRequest(m))
    link.onStatus((s) => s === 'connected' && agent.changed())
    agent.timer = setInterval(() => agent.publish(), agent.heartbeatMs)
    agent.timer.unref()
    return agent
  }

  get heartbeatMs(): number {
    return this.opts.heartbeatMs ?? 1000
  }

  /** Something in the snapshot may have changed: publish (coalesced per tick). */
  changed(): void {
    if (this.queued) return
    this.queued = true
    setImmediate(() => {
      this.queued = false
      this.publish()
    })
  }

  snapshot(): MemberSnapshot {
    const s = this.sup.snapshot()
    const c = s.context as UpdateContext
    const st = this.sup.status()
    const a = c.attempt
    return {
      v: 1,
      t: 'snapshot',
      hub: this.opts.hub,
      member: this.opts.name,
      seq: ++this.seq,
      boot: this.boot,
      at: Date.now(),
      heartbeatMs: this.heartbeatMs,
      supervisor: this.sup.version,
      phase: st.phase,
      ready: st.phase === 'serving' && !!st.active?.good,
      slot: c.serving,
      version: st.slots[c.serving].version,
      buildId: st.slots[c.serving].buildId,
      update: {
        state: String(s.value),
        ...(a
          ? clean({
              attempt: a.id,
              version: a.version,
              outcome: a.outcome,
              reason: a.reason?.slice(0, 2000),
              waitReason: a.waitReason?.slice(0, 2000),
            })
          : {}),
      },
      requests: this.kept.map((k) => ({ ...k.record, result: this.resultOf(k.record) })),
    }
  }

  /** What became of the attempt a request started, read from the transition's context. */
  private resultOf(r: MemberRequestRecord): RequestResult {
    if (r.attempt === undefined) return r.result
    const s = this.sup.snapshot()
    const c = s.context as UpdateContext
    const done = c.history.find((h: Attempt) => h.id === r.attempt)
    if (done?.outcome) return done.outcome
    if (c.attempt?.id === r.attempt) return s.value === 'failed' ? 'failed' : 'pending'
    // recorded, then the supervisor died before the request reached the transition
    return r.attempt > c.attempts ? 'failed' : 'pending'
  }

  private publish(): void {
    if (this.link.status !== 'connected') return
    if (this.link.publish(memberSubjects.snapshot(this.opts.hub), encodeMemberMessage(this.snapshot())))
      this.counters.published++
  }

  private onAsk(m: NatsMessage): void {
    try {
      decodeMemberMessage(m.data, ['ask'])
    } catch {
      this.counters.badMessages++
      return
    }
    this.publish()
  }

  private async onRequest(m: NatsMessage): Promise<void> {
    let req: MemberRequest
    try {
      req = decodeMemberMessage(m.data, ['request'])
      if (req.member !== this.opts.name || req.hub !== this.opts.hub)
        throw new ProtocolError('WRONG_SENDER', `this is member ${this.opts.name} of hub ${this.opts.hub}`)
    } catch (err) {
      this.counters.badMessages++
      const e = err instanceof ProtocolError ? err : new ProtocolError('BAD_FIELD', String(err))
      if (m.reply)
        this.link.publish(
          m.reply,
          encodeMemberMessage({
            v: 1,
            t: 'reply',
            id: 'invalid',
            member: this.opts.name,
            ok: false,
            state: String(this.sup.snapshot().value),
            code: e.code,
            message: e.message.slice(0, 2000),
          }),
        )
      return
    }
    const reply = await this.handle(req)
    if (m.reply) this.link.publish(m.reply, encodeMemberMessage(reply))
    this.changed()
  }

  /** Acts on a request once; a repeated id gets its first answer. */
  async handle(req: MemberRequest): Promise<MemberReply> {
    this.counters.requests++
    const seen = this.kept.find((k) => k.record.id === req.id)
    if (seen) {
      this.counters.duplicates++
      return { ...seen.reply, duplicate: true }
    }
    const s = this.sup.snapshot()
    const c = s.context as UpdateContext
    const refuse = (code: string, message: string): MemberReply => {
      this.counters.refused++
      return { v: 1, t: 'reply', id: req.id, member: this.opts.name, ok: false, state: String(s.value), code, message }
    }
    if (req.action === 'cancel') {
      const event = {
        type: 'update.cancel' as const,
        reason: req.reason ?? `cancelled by hub ${req.hub}`,
        at: Date.now(),
      }
      if (!s.can(event)) return refuse('NOT_ALLOWED', `nothing to cancel in state ${String(s.value)}`)
      const attempt = c.attempt?.id
      await this.keep({ id: req.id, action: 'cancel', result: 'pending', ...(attempt ? { attempt } : {}) }, req)
      await this.sup.system.sendCommitted('supervisor.update', event)
      return this.answer(req.id)
    }
    if (s.value !== 'idle') return refuse('BUSY', `an update is in ${String(s.value)}; cancel it or wait`)
    let source: string
    try {
      source = req.action === 'rollback' ? this.rollbackImage(c) : resolvePath(req.source ?? '')
      const m = verifySlot(source)
      if (req.version !== undefined && req.version !== m.version)
        return refuse('VERSION_MISMATCH', `the request says ${req.version}, the image says ${m.version}`)
    } catch (err) {
      return refuse('BAD_SOURCE', `not an installable version: ${(err as Error).message}`)
    }
    const attempt = c.attempts + 1
    await this.keep({ id: req.id, action: req.action, attempt, result: 'pending' }, req)
    await this.sup.system.sendCommitted('supervisor.update', {
      type: 'update.request',
      kind: 'hub',
      source,
      version: verifySlot(source).version,
      force: req.force === true,
      at: Date.now(),
    })
    return this.answer(req.id)
  }

  /** The inactive slot's version, copied out so that the update can install it into that slot. */
  private rollbackImage(c: UpdateContext): string {
    const from = this.sup.manager.slotDir(other(c.serving))
    const m = verifySlot(from)
    const dir = join(this.sup.dataDir, 'rollback', `${m.version}-${m.buildId}`.replace(/[^A-Za-z0-9_.-]/g, '_'))
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(join(dir, '..'), { recursive: true })
    cpSync(from, dir, { recursive: true })
    return dir
  }

  private answer(id: string): MemberReply {
    const k = this.kept.find((x) => x.record.id === id)!
    k.reply = { ...k.reply, state: String(this.sup.snapshot().value) }
    return k.reply
  }

  /** Records the request (and its answer) durably before it acts. */
  private async keep(record: MemberRequestRecord, req: MemberRequest): Promise<void> {
    const reply: MemberReply = {
      v: 1,
      t: 'reply',
      id: req.id,
      member: this.opts.name,
      ok: true,
      state: String(this.sup.snapshot().value),
      ...(record.attempt !== undefined ? { attempt: record.attempt } : {}),
    }
    this.kept = [...this.kept, { record, reply }].slice(-KEEP)
    const tmp = `${this.file}.tmp`
    writeFileSync(tmp, JSON.stringify(this.kept))
    renameSync(tmp, this.file)
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    await this.link.close()
  }
}

function readKept(file: string): Kept[] {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8'))
    return Array.isArray(v) ? v.slice(-KEEP) : []
  } catch {
    return []
  }
}

function clean<T extends object>(o: T): T {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v
  return out as T
}
