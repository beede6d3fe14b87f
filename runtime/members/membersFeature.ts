/**
 * The hub's members (docs/members.md): member nodes run under their own `aether supervisor
 * --member-of <hub>` and publish snapshots over NATS (protocol/memberLink.ts); this feature keeps
 * them (runtime/members/Members.ts), serves them, and drives rollouts over them.
 *
 * - `GET /api/members`: each member's freshness, snapshot and last request; the cohort state.
 * - `POST /api/rollouts` (token): a rollout (update to a slot image, or rollback) over named members
 *   or a selector, hosted as the durable actor `rollout:<id>` (machine `memberRollout`).
 * - `GET /api/rollouts`, `POST /api/rollouts/cancel` (token).
 * - The `members` node of the readiness tree and the cohort state in `GET /api/reliability`.
 *
 * It uses the hub's NATS connection (`--nats`, runtime/link/linkFeature.ts, installed before it)
 * and the hub id as the member link's hub. Without NATS it serves an empty list and says why.
 */
import { randomBytes } from 'node:crypto'
import { defineService, effect, requestKey, serviceOf } from '../../actors/index.ts'
import { memberRollout, type RolloutContext } from '../../machines/index.ts'
import type { GateOutput, WaveOutput, WaveReply } from '../../machines/memberRollout.ts'
import {
  decodeMemberMessage,
  encodeMemberMessage,
  memberSubjects,
  NODE_ID,
  ProtocolError,
  type MemberRequest,
} from '../../protocol/index.ts'
import type { Hub, HubFeature } from '../Hub.ts'
import { HttpError } from '../http/HubServer.ts'
import { rootLinkOf } from '../link/linkFeature.ts'
import type { NatsSub } from '../nats/NatsTransport.ts'
import type { Transport } from '../link/Transport.ts'
import { reliabilityOf } from '../reliability/Reliability.ts'
import { Members, type RolloutView } from './Members.ts'

export const ROLLOUT_PREFIX = 'rollout:'

export interface MembersOptions {
  /** How long one request to a member waits for its answer (each of up to 3 tries). */
  requestTimeoutMs?: number
  /** How long the health gate waits for every updated member to be fresh, ready and on the version. */
  gateMs?: number
}

interface MembersHost {
  members: Members
  hubId: string
  link(): Transport | undefined
  request(member: string, req: MemberRequest): Promise<WaveReply>
  gate(members: string[], version?: string): Promise<GateOutput>
}

const membersService = defineService<MembersHost>('members')

/** The machine with its effects bound to the `members` service. */
export const boundRollout = memberRollout.provide({
  actors: {
    requestWave: effect<WaveOutput, any>(async ({ input, key, self }) => {
      const host = serviceOf(self, membersService)
      const replies: Record<string, WaveReply> = {}
      await Promise.all(
        (input.members as string[]).map(async (member) => {
          // one id per member of this wave, from the effect's key: the same after a restart
          const id = `${key}/${member}`
          replies[member] = await host.request(member, {
            v: 1,
            t: 'request',
            id,
            hub: host.hubId,
            member,
            action: input.action,
            ...(input.source !== undefined ? { source: input.source } : {}),
            ...(input.version !== undefined ? { version: input.version } : {}),
          })
        }),
      )
      return { at: Date.now(), replies }
    }),
    healthGate: effect<GateOutput, any>(async ({ input, self }) =>
      serviceOf(self, membersService).gate(input.members, input.version),
    ),
  },
})

export class MembersFeature implements HubFeature {
  readonly name = 'members'
  members = new Members('hub')
  private hub!: Hub
  private sub?: NatsSub
  private readonly counters = { badMessages: 0, wrongHub: 0, requests: 0, unanswered: 0 }
  private askTimer?: NodeJS.Timeout

  constructor(readonly opts: MembersOptions = {}) {}

  install(hub: Hub): void {
    this.hub = hub
    const link = rootLinkOf(hub)
    this.members = new Members(link?.hubId ?? 'hub')
    const host: MembersHost = {
      members: this.members,
      hubId: this.members.hub,
      link: () => rootLinkOf(hub)?.control,
      request: (m, r) => this.request(m, r),
      gate: (m, v) => this.gate(m, v),
    }
    hub.system.services.provide(membersService, host)
    hub.system.register('memberRollout', boundRollout)
    const s = hub.server
    s.route('GET', '/api/members', () => this.info())
    s.route('GET', '/api/rollouts', () => ({ rollouts: this.rollouts().map((r) => this.rolloutInfo(r.path)) }))
    s.route('POST', '/api/rollouts', (ctx) => this.startRollout(ctx))
    s.route('POST', '/api/rollouts/cancel', (ctx) => this.cancelRollout(ctx))
    s.route('POST', '/api/members/cancel', (ctx) => this.cancelMember(ctx))
    reliabilityOf(hub).add('members', {
      node: () => this.members.node(this.views()),
      extra: () => ({ cohort: this.members.cohort(this.views()) }),
    })
    hub.server.addMetrics(() => this.metrics())
  }

  /** After recovery: take snapshots and ask every member for one (a restarted hub learns at once). */
  start(): void {
    const nats = rootLinkOf(this.hub)?.control
    if (!nats) return
    this.sub = nats.subscribe(memberSubjects.snapshot(this.members.hub), (m) => {
      let snap: ReturnType<typeof decodeMemberMessage<'snapshot'>>
      try {
        snap = decodeMemberMessage(m.data, ['snapshot'])
      } catch {
        this.counters.badMessages++
        return
      }
      if (snap.hub !== this.members.hub) {
        this.counters.wrongHub++
        return
      }
      if (this.members.take(snap)) this.progress(snap.member)
    })
    const ask = () =>
      nats.publish(
        memberSubjects.ask(this.members.hub),
        encodeMemberMessage({ v: 1, t: 'ask', hub: this.members.hub, at: Date.now() }),
      )
    nats.onStatus((st) => st === 'connected' && ask())
    ask()
    // a member that missed the first ask (connecting) answers the next
    this.askTimer = setTimeout(ask, 500)
    this.askTimer.unref()
  }

  close(): void {
    clearTimeout(this.askTimer)
    this.sub?.unsubscribe()
  }

  // ---- rollouts ------------------------------------------------------------------------------

  private rollouts() {
    return this.hub.system.list().filter((a) => a.machine === 'memberRollout')
  }

  private context(path: string): { value: unknown; context: RolloutContext; status: string } | undefined {
    // an actor being spawned is listed before its XState actor exists
    return this.hub.system.hosted(path)?.actor?.getSnapshot() as any
  }

  private views(): RolloutView[] {
    const out: RolloutView[] = []
    for (const a of this.rollouts()) {
      const s = this.context(a.path)
      if (!s) continue
      const c = s.context
      const waiting = (c.waves[c.wave] ?? []).filter((m) => {
        const snap = this.members.entry(m).snapshot
        return !!snap?.update.waitReason || this.members.entry(m).inFlight > 0
      })
      out.push({ id: c.id, done: s.status === 'done', outcome: c.outcome, startedAt: c.startedAt, waiting })
    }
    return out
  }

  /** The member's snapshot changed: tell the rollouts whose running wave has a request of theirs there. */
  private progress(member: string): void {
    const snap = this.members.entry(member).snapshot
    if (!snap) return
    for (const a of this.rollouts()) {
      const s = this.context(a.path)
      if (s?.status !== 'active' || s.value !== 'watching') continue
      const m = s.context.members[member]
      if (!m || m.wave !== s.context.wave || !m.requestId || m.status !== 'requested') continue
      const r = snap.requests.find((x) => x.id === m.requestId)
      if (!r) continue
      const state = snap.update.state
      if (r.result === 'pending' && state === m.state) continue
      this.hub.system.send(a.path, {
        type: 'member.progress',
        member,
        requestId: r.id,
        result: r.result,
        state,
        ...(r.result !== 'pending' && r.result !== 'committed' && snap.update.reason
          ? { reason: snap.update.reason.slice(0, 500) }
          : {}),
        at: Date.now(),
      })
    }
  }

  private async startRollout(ctx: any): Promise<unknown> {
    const b = await this.body(ctx, ['action', 'members', 'selector', 'source', 'version', 'canary', 'waveDeadlineMs'])
    const action = b.action ?? 'update'
    if (action !== 'update' && action !== 'rollback') this.bad('field "action" must be "update" or "rollback"')
    if (action === 'update' && (typeof b.source !== 'string' || !b.source || b.source.length > 4096))
      this.bad('field "source" must be the path of the slot image on the members (an update needs one)')
    if (b.version !== undefined && (typeof b.version !== 'string' || !b.version || b.version.length > 128))
      this.bad('field "version" must be a non-empty string')
    if (b.canary !== undefined && (!Number.isInteger(b.canary) || b.canary < 1))
      this.bad('field "canary" must be an integer >= 1 (members in the first wave)')
    if (b.waveDeadlineMs !== undefined && (!Number.isInteger(b.waveDeadlineMs) || b.waveDeadlineMs < 100))
      this.bad('field "waveDeadlineMs" must be an integer of milliseconds >= 100')
    if ((b.members === undefined) === (b.selector === undefined))
      this.bad('give exactly one of "members" (names) or "selector" ({version?, prefix?})')
    if (b.members !== undefined) {
      const ok = Array.isArray(b.members) && b.members.length > 0 && b.members.length <= 100
      if (!ok || !b.members.every((m: unknown) => typeof m === 'string' && NODE_ID.test(m)))
        this.bad(`field "members" must be 1..100 member names matching ${NODE_ID.source}`)
      if (new Set(b.members).size !== b.members.length) this.bad('field "members" names a member twice')
    }
    const sel = b.selector
    if (sel !== undefined) {
      const ok = typeof sel === 'object' && sel !== null && !Array.isArray(sel)
      if (!ok || Object.keys(sel).some((k) => k !== 'version' && k !== 'prefix'))
        this.bad('field "selector" must be {version?, prefix?}')
      for (const k of ['version', 'prefix'])
        if (sel[k] !== undefined && typeof sel[k] !== 'string') this.bad(`field "selector.${k}" must be a string`)
    }
    const members = this.members.select(b.members ? { members: b.members } : sel)
    if (members.length === 0) this.bad('no member matches the selector', 'NO_MEMBERS')
    const busy = this.views().find((r) => !r.done)
    if (busy) {
      this.counters.requests++
      throw new HttpError(409, `rollout ${busy.id} is running; cancel it or wait`, 'ROLLOUT_RUNNING')
    }
    const id = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`
    const path = ROLLOUT_PREFIX + id
    await this.hub.system.spawn(path, 'memberRollout', {
      durable: true,
      input: {
        id,
        action,
        ...(b.source !== undefined ? { source: b.source } : {}),
        ...(b.version !== undefined ? { version: b.version } : {}),
        members,
        ...(b.canary !== undefined ? { canary: b.canary } : {}),
        ...(b.waveDeadlineMs !== undefined ? { settings: { waveDeadlineMs: b.waveDeadlineMs } } : {}),
        at: Date.now(),
      },
    })
    ctx.res.statusCode = 202
    return this.rolloutInfo(path)
  }

  private async cancelRollout(ctx: any): Promise<unknown> {
    const b = await this.body(ctx, ['id', 'reason'])
    if (typeof b.id !== 'string' || !this.hub.system.hosted(ROLLOUT_PREFIX + b.id))
      throw new HttpError(404, `no rollout ${JSON.stringify(b.id)}; GET /api/rollouts lists them`, 'NO_ROLLOUT')
    if (typeof b.reason !== 'string' || !b.reason.trim() || b.reason.length > 500)
      this.bad('field "reason" must be a non-empty string of at most 500 characters')
    const path = ROLLOUT_PREFIX + b.id
    const s = this.context(path)!
    if (s.status !== 'active') throw new HttpError(409, `rollout ${b.id} has ended (${s.context.outcome})`, 'ENDED')
    await this.hub.system.sendCommitted(path, { type: 'rollout.cancel', reason: b.reason, at: Date.now() })
    return this.rolloutInfo(path)
  }

  /** Cancels one member's update in progress (outside a rollout's waves, or inside one: it halts). */
  private async cancelMember(ctx: any): Promise<unknown> {
    const b = await this.body(ctx, ['member', 'reason'])
    if (typeof b.member !== 'string' || !NODE_ID.test(b.member))
      this.bad(`field "member" must be a member name matching ${NODE_ID.source}`)
    if (typeof b.reason !== 'string' || !b.reason.trim() || b.reason.length > 500)
      this.bad('field "reason" must be a non-empty string of at most 500 characters')
    const reply = await this.request(b.member, {
      v: 1,
      t: 'request',
      id: requestKey('cancel', b.member, Date.now()),
      hub: this.members.hub,
      member: b.member,
      action: 'cancel',
      reason: b.reason,
    })
    if (!reply.ok) {
      const status = reply.code === 'UNREACHABLE' ? 504 : 409
      throw new HttpError(status, `${b.member}: ${reply.message ?? 'refused'}`, reply.code ?? 'REFUSED')
    }
    return { member: b.member, ...reply }
  }

  private rolloutInfo(path: string) {
    const s = this.context(path)!
    const c = s.context
    return {
      id: c.id,
      actor: path,
      state: s.value,
      action: c.action,
      version: c.version ?? null,
      source: c.source ?? null,
      waves: c.waves,
      wave: c.wave,
      members: c.members,
      cancel: c.cancel,
      outcome: c.outcome,
      reason: c.reason,
      startedAt: c.startedAt,
    }
  }

  // ---- member requests -----------------------------------------------------------------------

  /** One request, tried up to 3 times (the member answers a repeat with its first answer). */
  private async request(member: string, req: MemberRequest): Promise<WaveReply> {
    const e = this.members.entry(member)
    e.inFlight++
    e.lastRequest = { id: req.id, action: req.action, at: Date.now(), result: 'pending' }
    this.counters.requests++
    try {
      let last = 'not connected to NATS'
      for (let i = 0; i < 3; i++) {
        const nats = rootLinkOf(this.hub)?.control
        try {
          if (!nats) break
          await nats.connected()
          const data = await nats.request(
            memberSubjects.request(this.members.hub, member),
            encodeMemberMessage(req),
            this.opts.requestTimeoutMs ?? 5000,
          )
          const r = decodeMemberMessage(data, ['reply'])
          if (r.id !== req.id || r.member !== member)
            throw new ProtocolError('WRONG_SENDER', `the answer is for ${r.member} ${r.id}`, 'id')
          e.lastRequest = {
            ...e.lastRequest!,
            result: r.ok ? 'accepted' : (r.code ?? 'REFUSED'),
            ...(r.message ? { message: r.message } : {}),
            answeredAt: Date.now(),
          }
          return {
            requestId: req.id,
            ok: r.ok,
            state: r.state,
            ...(r.attempt !== undefined ? { attempt: r.attempt } : {}),
            ...(r.code ? { code: r.code } : {}),
            ...(r.message ? { message: r.message } : {}),
          }
        } catch (err) {
          if (err instanceof ProtocolError) this.counters.badMessages++
          last = (err as Error).message
          await new Promise((r) => setTimeout(r, 200))
        }
      }
      this.counters.unanswered++
      e.lastRequest = { ...e.lastRequest!, result: 'UNREACHABLE', message: last, answeredAt: Date.now() }
      return { requestId: req.id, ok: false, code: 'UNREACHABLE', message: `no answer from ${member}: ${last}` }
    } finally {
      e.inFlight--
    }
  }

  /** Every member updated so far is fresh, ready, idle and on the version, within `gateMs`. */
  private async gate(members: string[], version?: string): Promise<GateOutput> {
    const deadline = Date.now() + (this.opts.gateMs ?? 10_000)
    for (;;) {
      const bad: string[] = []
      for (const m of members) {
        const e = this.members.entry(m)
        const s = e.snapshot
        if (this.members.freshness(e) !== 'fresh') bad.push(`${m} is ${this.members.freshness(e)}`)
        else if (!s?.ready) bad.push(`${m} is not ready (${s?.phase})`)
        else if (s.update.state !== 'idle') bad.push(`${m} is still in ${s.update.state}`)
        else if (version !== undefined && s.version !== version) bad.push(`${m} runs ${s.version}, not ${version}`)
      }
      if (bad.length === 0) return { at: Date.now(), healthy: true }
      if (Date.now() >= deadline) return { at: Date.now(), healthy: false, reason: bad.join('; ') }
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  // ---- API -----------------------------------------------------------------------------------

  info() {
    const nats = rootLinkOf(this.hub)?.control
    return {
      hub: this.members.hub,
      link: nats ? nats.status : 'none (start the hub with --nats)',
      cohort: this.members.cohort(this.views()),
      members: this.members.list(),
      counters: { ...this.members.counters, ...this.counters },
    }
  }

  private async body(ctx: any, fields: string[]): Promise<Record<string, any>> {
    const s = this.hub.server
    s.requireToken(ctx)
    const b = await s.body(ctx)
    if (typeof b !== 'object' || b === null || Array.isArray(b))
      this.bad(`the body must be a JSON object {${fields.join(', ')}}`)
    for (const k of Object.keys(b as object))
      if (!fields.includes(k)) this.bad(`unknown field "${k}" (${fields.join(', ')})`)
    return b as Record<string, any>
  }

  private bad(message: string, code = 'BAD_BODY'): never {
    this.members.counters.refused++
    throw new HttpError(400, message, code)
  }

  private metrics(): string {
    const c = this.info()
    const lines = [
      '# HELP aether_members Members of this hub by freshness.',
      '# TYPE aether_members gauge',
      ...(['fresh', 'pending', 'stale'] as const).map(
        (f) => `aether_members{freshness="${f}"} ${c.members.filter((m) => m.freshness === f).length}`,
      ),
      '# HELP aether_member_link_refused_total Member-link messages and rollout requests refused at the edge.',
      '# TYPE aether_member_link_refused_total counter',
      `aether_member_link_refused_total{what="message"} ${this.counters.badMessages + this.counters.wrongHub}`,
      `aether_member_link_refused_total{what="request"} ${this.members.counters.refused}`,
    ]
    return lines.join('\n') + '\n'
  }
}
