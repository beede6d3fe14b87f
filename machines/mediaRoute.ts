/**
 * mediaRoute: the hub's authority over one media need of one consumer (a browser wants the
 * stream `clock` that members can produce), in the vocabulary of route administration: need ->
 * capability -> ability -> attempt -> degradation -> observed failure -> monitoring. Transports
 * execute the route this machine chose; they never choose one.
 *
 * Driven by: the members' adverts (`route.capability`: which needs a target can serve and over
 * which paths), what the hub knows of each target (`route.ability`: reachable over signaling,
 * authorized, healthy; `route.left` when its socket goes), the operator's or consumer's policy
 * (`route.policy`: which path classes are allowed), the consumer's monitoring reports on the
 * current attempt (`route.observed`, tagged with the attempt's `seq`), `route.refresh` (the
 * consumer asked again: a fresh attempt), `route.release`, and its
 * own durable timers (the connect deadline of an attempt, the retry of a better path).
 *
 * Promises:
 * - At most one attempt at a time: a target and a path (`direct`: the consumer peers with the
 *   target itself; `relay`: the target's media reaches the consumer through the hub), numbered by
 *   `seq`. A new attempt records the previous route, the switch count and the cause.
 * - Direct is preferred; relay is the degradation class, used only when the policy allows it, and
 *   the context says so (`degradation.active`, with the reason). With neither possible the route
 *   is `unavailable` and says why; it re-selects by itself when the inventory changes.
 * - A target whose path failed (a failed report, a missed connect deadline) is suspect on that
 *   path until the retry timer forgives it, so a failing path is not retried in a loop. A target
 *   that leaves, withdraws the need or loses its ability ends the attempt at once (failover).
 * - Reports of an older attempt are ignored and counted. Time comes only from the `at` fields of
 *   events (timer fires advance it by their delay), so a journal replays exactly.
 */
import { assertEvent, assign, setup } from 'xstate'

export type RoutePath = 'direct' | 'relay'

/** What one target advertises: the needs it can serve and the paths it serves them over. */
export interface RouteCapability {
  needs: string[]
  paths: RoutePath[]
  at: number
}

/** What the hub knows of a target now. */
export interface RouteAbility {
  /** It has a signaling path to the hub. */
  reachable: boolean
  /** The consumer may use it. */
  authorized: boolean
  /** It says its producer is running. */
  healthy: boolean
  reason: string | null
  at: number
}

export interface RouteAttempt {
  seq: number
  target: string | null
  path: RoutePath | null
  status: 'connecting' | 'live' | 'unavailable' | 'released'
  startedAt: number
  /** Why this attempt was made (the first selection, a failure, a better path, a policy change). */
  cause: string
  liveAt: number | null
}

export interface PreviousRoute {
  seq: number
  target: string | null
  path: RoutePath | null
  endedBy: string
  at: number
}

export interface ObservedFailure {
  seq: number
  target: string | null
  path: RoutePath | null
  failure: string
  at: number
}

export interface MediaRouteInput {
  consumer: string
  need: string
  /** Path classes allowed (default both). */
  direct?: boolean
  relay?: boolean
  /** An attempt must be reported live within this (ms). */
  connectMs?: number
  /** Suspect paths are forgiven, and a better path tried, after this (ms). */
  retryMs?: number
  at?: number
}

export interface MediaRouteContext {
  need: { consumer: string; need: string; since: number }
  capability: Record<string, RouteCapability>
  ability: Record<string, RouteAbility>
  attempt: RouteAttempt | null
  previous: PreviousRoute | null
  switches: number
  lastSwitchAt: number | null
  degradation: { direct: boolean; relay: boolean; active: 'none' | 'relay' | 'unavailable'; reason: string | null }
  observed: ObservedFailure | null
  failures: ObservedFailure[]
  /** `<path>:<target>` -> when the path failed. */
  suspect: Record<string, number>
  /** Why the next (or the current) attempt was selected. */
  cause: string
  /** When the current state's timers were armed (timer fires advance `now` from it). */
  armedAt: number
  monitoring: {
    signals: string[]
    connectMs: number
    retryMs: number
    reports: number
    staleReports: number
    lastReport: { seq: number; status: 'up' | 'failed'; at: number } | null
  }
  now: number
}

export const routeEvents = {
  capability: (target: string, needs: string[], paths: RoutePath[], at: number) =>
    ({ type: 'route.capability', target, needs, paths, at }) as const,
  ability: (
    target: string,
    a: { reachable: boolean; authorized: boolean; healthy: boolean; reason?: string | null },
    at: number,
  ) => ({ type: 'route.ability', target, ...a, reason: a.reason ?? null, at }) as const,
  left: (target: string, reason: string, at: number) => ({ type: 'route.left', target, reason, at }) as const,
  policy: (direct: boolean, relay: boolean, at: number) => ({ type: 'route.policy', direct, relay, at }) as const,
  observed: (seq: number, status: 'up' | 'failed', at: number, reason?: string) =>
    ({ type: 'route.observed', seq, status, reason: reason ?? null, at }) as const,
  /** The consumer asked again (it reconnected): a fresh attempt on the best path, nothing suspect. */
  refresh: (reason: string, at: number) => ({ type: 'route.refresh', reason, at }) as const,
  release: (reason: string, at: number) => ({ type: 'route.release', reason, at }) as const,
}

export type MediaRouteEvent = ReturnType<(typeof routeEvents)[keyof typeof routeEvents]>

const MONITORING = [
  'the consumer reports each attempt up or failed (route.observed, by seq)',
  'the connect deadline of an attempt',
  "the target's signaling socket (route.left) and its adverts (route.capability, route.ability)",
  'the retry timer: a suspect path is tried again, a relayed route tries direct again',
]
const KEEP_FAILURES = 10

type Ctx = MediaRouteContext

const suspectKey = (path: RoutePath, target: string) => `${path}:${target}`

/** A target that can serve the need over `path` now (capable, able, allowed, not suspect). */
function eligible(c: Ctx, target: string, path: RoutePath): boolean {
  const cap = c.capability[target]
  const ab = c.ability[target]
  return (
    c.degradation[path] &&
    !!cap &&
    cap.needs.includes(c.need.need) &&
    cap.paths.includes(path) &&
    !!ab &&
    ab.reachable &&
    ab.authorized &&
    ab.healthy &&
    !(suspectKey(path, target) in c.suspect)
  )
}

/** The target for `path`: the current or previous one if still eligible (no needless switch), else the first by id. */
export function pickTarget(c: Ctx, path: RoutePath): string | null {
  const sticky = [c.attempt?.target, c.previous?.target].filter((t): t is string => typeof t === 'string')
  for (const t of sticky) if (eligible(c, t, path)) return t
  return (
    Object.keys(c.capability)
      .sort()
      .find((t) => eligible(c, t, path)) ?? null
  )
}

/** Why nothing is possible, for the operator. */
function whyUnavailable(c: Ctx): string {
  const capable = Object.keys(c.capability).filter((t) => c.capability[t].needs.includes(c.need.need))
  if (!c.degradation.direct && !c.degradation.relay) return 'the policy allows neither direct nor relay'
  if (capable.length === 0) return `no target advertises "${c.need.need}"`
  const reasons = capable.map((t) => {
    const ab = c.ability[t]
    if (!ab) return `${t}: ability unknown`
    if (!ab.reachable) return `${t}: unreachable`
    if (!ab.authorized) return `${t}: not authorized`
    if (!ab.healthy) return `${t}: unhealthy${ab.reason ? ` (${ab.reason})` : ''}`
    return `${t}: its allowed paths failed`
  })
  return reasons.join('; ')
}

/** The time an event carries; timer fires carry none. */
function timeOf(event: object): number | undefined {
  return 'at' in event && typeof event.at === 'number' ? event.at : undefined
}

function observe(c: Ctx, failure: string, at: number): Pick<Ctx, 'observed' | 'failures' | 'suspect'> {
  const a = c.attempt
  const o: ObservedFailure = { seq: a?.seq ?? 0, target: a?.target ?? null, path: a?.path ?? null, failure, at }
  const suspect = a?.target && a.path ? { ...c.suspect, [suspectKey(a.path, a.target)]: at } : c.suspect
  return { observed: o, failures: [...c.failures, o].slice(-KEEP_FAILURES), suspect }
}

/** Ends the current attempt as `endedBy` and starts the next one (target and path may be null). */
function nextAttempt(c: Ctx, path: RoutePath | null, cause: string): Partial<Ctx> {
  const target = path ? pickTarget(c, path) : null
  const a = c.attempt
  const changed = !a || a.target !== target || a.path !== path
  const previous: PreviousRoute | null = a
    ? { seq: a.seq, target: a.target, path: a.path, endedBy: cause, at: c.now }
    : null
  const attempt: RouteAttempt = {
    seq: (a?.seq ?? 0) + 1,
    target,
    path,
    status: path ? 'connecting' : 'unavailable',
    startedAt: c.now,
    cause,
    liveAt: null,
  }
  const active = path === 'direct' ? 'none' : path === 'relay' ? 'relay' : 'unavailable'
  const reason =
    path === 'direct'
      ? null
      : path === 'relay'
        ? c.degradation.direct
          ? `direct is not possible: ${c.observed && c.observed.path === 'direct' ? c.observed.failure : whyDirect(c)}`
          : 'direct is not allowed by the policy'
        : whyUnavailable(c)
  return {
    attempt,
    previous: a ? previous : c.previous,
    switches: a && changed ? c.switches + 1 : c.switches,
    lastSwitchAt: a && changed ? c.now : c.lastSwitchAt,
    degradation: { ...c.degradation, active, reason },
  }
}

function whyDirect(c: Ctx): string {
  const direct = Object.keys(c.capability).filter(
    (t) => c.capability[t].needs.includes(c.need.need) && c.capability[t].paths.includes('direct'),
  )
  if (direct.length === 0) return `no target serves "${c.need.need}" directly`
  const failed = direct.filter((t) => suspectKey('direct', t) in c.suspect)
  return failed.length ? `direct failed for ${failed.join(', ')}` : whyUnavailable(c)
}

function anyPossible(c: Ctx): boolean {
  return pickTarget(c, 'direct') !== null || pickTarget(c, 'relay') !== null
}

/** The current attempt's target can no longer serve it on its path (or the policy took the path away). */
function attemptBroken(c: Ctx): boolean {
  const a = c.attempt
  if (!a?.target || !a.path) return false
  return !eligible({ ...c, suspect: {} }, a.target, a.path)
}

const machine = setup({
  types: {
    context: {} as MediaRouteContext,
    events: {} as MediaRouteEvent,
    input: {} as MediaRouteInput,
  },
  delays: {
    connect: ({ context }) => context.monitoring.connectMs,
    retry: ({ context }) => context.monitoring.retryMs,
  },
  guards: {
    directPossible: ({ context }) => pickTarget(context, 'direct') !== null,
    relayPossible: ({ context }) => pickTarget(context, 'relay') !== null,
    anyPossible: ({ context }) => anyPossible(context),
    /** After the retry forgives the suspects: a relayed route can go direct again. */
    directAfterForgive: ({ context }) => pickTarget({ ...context, suspect: {} }, 'direct') !== null,
    attemptBroken: ({ context }) => attemptBroken(context),
    /** A report of the current attempt (older ones are stale). */
    currentUp: ({ context, event }) => {
      assertEvent(event, 'route.observed')
      return event.seq === context.attempt?.seq && event.status === 'up'
    },
    currentFailed: ({ context, event }) => {
      assertEvent(event, 'route.observed')
      return event.seq === context.attempt?.seq && event.status === 'failed'
    },
  },
  actions: {
    /** Every timestamped event moves the machine's clock. */
    stamp: assign({
      now: ({ context, event }) => {
        const at = timeOf(event)
        return at !== undefined && at > context.now ? at : context.now
      },
    }),
    /** Entering a state with timers: they count from now. */
    arm: assign({ armedAt: ({ context }) => context.now }),
    /** Timer fires carry no time: the delay since the timers were armed has passed. */
    afterConnect: assign({
      now: ({ context }) => Math.max(context.now, context.armedAt + context.monitoring.connectMs),
    }),
    afterRetry: assign({
      now: ({ context }) => Math.max(context.now, context.armedAt + context.monitoring.retryMs),
    }),
    recordCapability: assign({
      capability: ({ context, event }) => {
        assertEvent(event, 'route.capability')
        const { [event.target]: _, ...rest } = context.capability
        if (event.needs.length === 0) return rest
        return { ...rest, [event.target]: { needs: [...event.needs], paths: [...event.paths], at: event.at } }
      },
    }),
    recordAbility: assign({
      ability: ({ context, event }) => {
        assertEvent(event, 'route.ability')
        const { reachable, authorized, healthy, reason, at } = event
        return { ...context.ability, [event.target]: { reachable, authorized, healthy, reason, at } }
      },
    }),
    /** A target left: it can serve nothing until it advertises again. */
    recordLeft: assign(({ context, event }) => {
      assertEvent(event, 'route.left')
      const { [event.target]: _, ...capability } = context.capability
      const ab = context.ability[event.target]
      return {
        capability,
        ability: {
          ...context.ability,
          [event.target]: {
            reachable: false,
            authorized: ab?.authorized ?? false,
            healthy: false,
            reason: event.reason,
            at: event.at,
          },
        },
      }
    }),
    recordPolicy: assign({
      degradation: ({ context, event }) => {
        assertEvent(event, 'route.policy')
        return { ...context.degradation, direct: event.direct, relay: event.relay }
      },
    }),
    countReport: assign({
      monitoring: ({ context, event }) => {
        assertEvent(event, 'route.observed')
        const m = context.monitoring
        const current = event.seq === context.attempt?.seq
        return {
          ...m,
          reports: m.reports + 1,
          staleReports: m.staleReports + (current ? 0 : 1),
          lastReport: current ? { seq: event.seq, status: event.status, at: event.at } : m.lastReport,
        }
      },
    }),
    /** The first selection and every re-selection: the attempt's path is the state's (params). */
    beginAttempt: assign(({ context }, params: { path: RoutePath | null }) =>
      nextAttempt(context, params.path, context.cause),
    ),
    noteLive: assign({
      attempt: ({ context }) => ({ ...context.attempt!, status: 'live' as const, liveAt: context.now }),
    }),
    noteReportedFailure: assign(({ context, event }) => {
      assertEvent(event, 'route.observed')
      const failure = event.reason ?? 'the consumer reported the route failed'
      return { ...observe(context, failure, context.now), cause: `failed: ${failure}` }
    }),
    noteConnectTimeout: assign(({ context }) => {
      const failure = `not live within ${context.monitoring.connectMs} ms`
      return { ...observe(context, failure, context.now), cause: `failed: ${failure}` }
    }),
    noteBroken: assign(({ context }) => {
      const t = context.attempt?.target ?? ''
      const ab = context.ability[t]
      const why = !context.capability[t]
        ? `${t} no longer advertises "${context.need.need}"`
        : !context.degradation[context.attempt!.path!]
          ? `${context.attempt!.path} is no longer allowed`
          : `${t} is ${ab && !ab.reachable ? 'unreachable' : ab && !ab.authorized ? 'not authorized' : 'unhealthy'}${ab?.reason ? ` (${ab.reason})` : ''}`
      // a broken target is not a failed path: nothing becomes suspect
      const o: ObservedFailure = {
        seq: context.attempt!.seq,
        target: context.attempt!.target,
        path: context.attempt!.path,
        failure: why,
        at: context.now,
      }
      return { observed: o, failures: [...context.failures, o].slice(-KEEP_FAILURES), cause: `lost: ${why}` }
    }),
    /** While unavailable, the reason follows the inventory. */
    refreshReason: assign({
      degradation: ({ context }) =>
        context.degradation.active === 'unavailable'
          ? { ...context.degradation, reason: whyUnavailable(context) }
          : context.degradation,
    }),
    noteRefresh: assign({
      cause: ({ event }) => {
        assertEvent(event, 'route.refresh')
        return `refreshed: ${event.reason}`
      },
    }),
    noteAvailable: assign({ cause: 'a target became available' }),
    /** The retry forgives every suspect path, so the best path is tried again. */
    forgive: assign({ suspect: () => ({}), cause: 'retry: the suspect paths are tried again' }),
    noteReleased: assign({
      attempt: ({ context }) => (context.attempt ? { ...context.attempt, status: 'released' as const } : null),
    }),
    /** Executes the route in `context.attempt` (the consumer and the target are told). Bound by runtime/. */
    execute: () => {},
  },
})

/** Inventory and policy changes: recorded wherever the route is; each state reacts with `always`. Reports are counted. */
const inventory = {
  'route.capability': { actions: ['stamp', 'recordCapability', 'refreshReason'] },
  'route.ability': { actions: ['stamp', 'recordAbility', 'refreshReason'] },
  'route.left': { actions: ['stamp', 'recordLeft', 'refreshReason'] },
  'route.policy': { actions: ['stamp', 'recordPolicy', 'refreshReason'] },
  'route.observed': { actions: ['stamp', 'countReport'] },
} as const

/**
 * A fresh attempt, or the end: taken in every state that has an attempt (written per state, not
 * at the root, so every edge the inspector draws runs between two states).
 */
const leave = {
  'route.refresh': { target: 'selecting', actions: ['stamp', 'noteRefresh'] },
  'route.release': { target: 'released', actions: ['stamp', 'noteReleased', 'execute'] },
} as const

/** An attempt on a path: connecting until the consumer reports it up, then live. */
const attemptOn = {
  initial: 'connecting',
  always: { guard: 'attemptBroken', target: 'selecting', actions: 'noteBroken' },
  on: {
    ...leave,
    'route.observed': [
      { guard: 'currentFailed', target: 'selecting', actions: ['stamp', 'countReport', 'noteReportedFailure'] },
      { guard: 'currentUp', target: '.live', actions: ['stamp', 'countReport', 'noteLive'] },
      { actions: ['stamp', 'countReport'] },
    ],
  },
  states: {
    connecting: {
      after: { connect: { target: '#mediaRoute.selecting', actions: ['afterConnect', 'noteConnectTimeout'] } },
    },
    live: {},
  },
} as const

export const mediaRoute = machine.createMachine({
  id: 'mediaRoute',
  context: ({ input }) => {
    const at = input.at ?? 0
    return {
      need: { consumer: input.consumer, need: input.need, since: at },
      capability: {},
      ability: {},
      attempt: null,
      previous: null,
      switches: 0,
      lastSwitchAt: null,
      degradation: { direct: input.direct ?? true, relay: input.relay ?? true, active: 'unavailable', reason: null },
      observed: null,
      failures: [],
      suspect: {},
      cause: 'first selection',
      armedAt: at,
      monitoring: {
        signals: MONITORING,
        connectMs: input.connectMs ?? 3000,
        retryMs: input.retryMs ?? 10_000,
        reports: 0,
        staleReports: 0,
        lastReport: null,
      },
      now: at,
    }
  },
  initial: 'selecting',
  on: inventory,
  states: {
    selecting: {
      always: [
        { guard: 'directPossible', target: 'direct', actions: { type: 'beginAttempt', params: { path: 'direct' } } },
        { guard: 'relayPossible', target: 'relayed', actions: { type: 'beginAttempt', params: { path: 'relay' } } },
        { target: 'unavailable', actions: { type: 'beginAttempt', params: { path: null } } },
      ],
    },
    direct: { entry: ['arm', 'execute'], ...attemptOn },
    relayed: {
      entry: ['arm', 'execute'],
      ...attemptOn,
      // a relayed route tries direct again once the suspects are forgiven, if a target could serve it
      after: { retry: { guard: 'directAfterForgive', target: 'selecting', actions: ['afterRetry', 'forgive'] } },
    },
    unavailable: {
      entry: ['arm', 'execute'],
      always: { guard: 'anyPossible', target: 'selecting', actions: 'noteAvailable' },
      // forgiving the suspects lets `always` try again; the timer is armed again either way
      after: { retry: { target: 'unavailable', reenter: true, actions: ['afterRetry', 'forgive'] } },
      on: leave,
    },
    released: { type: 'final' },
  },
})

export default mediaRoute
