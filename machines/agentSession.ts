/**
 * agentSession: one per agent WebSocket session (`/ws/agent`), hosted as a durable actor so a hub
 * restart restores the conversation. Driven by the socket bridge (`session.attach`,
 * `session.detach`, `agent.task`, `session.close`), by its `runTask` effect (the role router,
 * provided by runtime/) and by the detach time-to-live (a durable timer).
 *
 * Promises: tasks run one at a time in arrival order; a task id is accepted once (a client that
 * resends a task after a reconnect gets the same outcome, never a second run); each outcome is
 * kept, numbered, in `outcomes` so a resumed client can ask for what it missed; the conversation
 * (`history`) grows only by completed tasks. A restart while a task runs re-runs its effect with
 * the same idempotency key, which the role router answers from its cache when the provider already
 * answered. Nothing here waits on optional infrastructure: capabilities are the bridge's business.
 */
import { assertEvent, assign, fromPromise, setup } from 'xstate'
import type { TaskOutcome } from '../protocol/agent.ts'
import { output } from './effectParams.ts'

export interface AgentTask {
  taskId: string
  role: string
  prompt: string
  images?: string[]
}

export interface ChatTurn {
  role: 'user' | 'assistant'
  content: string
  taskId: string
  /** The harness role that answered (assistant turns). */
  agentRole?: string
}

/** What the `runTask` effect resolves with (it does not reject for provider failures). */
export interface TaskResult {
  ok: boolean
  text?: string
  provider?: string
  model?: string
  fallbacks: number
  cached: boolean
  requestId: string
  latencyMs?: number
  error?: { code: string; message: string }
}

export interface RunTaskInput {
  sessionId: string
  task: AgentTask
  /** The conversation so far, oldest first (bounded). */
  history: ChatTurn[]
}

export interface AgentSessionInput {
  sessionId: string
  /** How long a session without a socket is kept for resuming (default 1 h). */
  detachTtlMs?: number
  maxHistory?: number
  maxOutcomes?: number
  maxQueue?: number
}

export interface AgentSessionContext {
  sessionId: string
  detachTtlMs: number
  maxHistory: number
  maxOutcomes: number
  maxQueue: number
  history: ChatTurn[]
  queue: AgentTask[]
  current: AgentTask | null
  outcomes: TaskOutcome[]
  /** Numbers the next outcome. */
  nextN: number
  /** Tasks refused because the queue was full. */
  refused: number
  closedReason: string | null
}

/** Event creators: what the socket bridge sends. */
export const sessionEvents = {
  attach: () => ({ type: 'session.attach' }) as const,
  detach: () => ({ type: 'session.detach' }) as const,
  close: (reason?: string) => ({ type: 'session.close', reason }) as const,
  task: (task: AgentTask) => ({ type: 'agent.task', task }) as const,
}

/** Every event an agent session takes (built by `sessionEvents`). */
export type AgentSessionEvent = ReturnType<(typeof sessionEvents)[keyof typeof sessionEvents]>

/** Whether the session already knows the task id (queued, running or finished). */
export function knowsTask(ctx: AgentSessionContext, taskId: string): boolean {
  return (
    ctx.current?.taskId === taskId ||
    ctx.queue.some((t) => t.taskId === taskId) ||
    ctx.outcomes.some((o) => o.taskId === taskId)
  )
}

/** A task the session has not seen yet. */
function isNewTask(ctx: AgentSessionContext, event: AgentSessionEvent): boolean {
  assertEvent(event, 'agent.task')
  return !knowsTask(ctx, event.task.taskId)
}

function pushOutcome(ctx: AgentSessionContext, o: Omit<TaskOutcome, 'n'>): TaskOutcome[] {
  const list = [...ctx.outcomes, { n: ctx.nextN, ...o }]
  return list.length > ctx.maxOutcomes ? list.slice(list.length - ctx.maxOutcomes) : list
}

export const agentSession = setup({
  types: {
    context: {} as AgentSessionContext,
    events: {} as AgentSessionEvent,
    input: {} as AgentSessionInput,
  },
  actors: {
    // Placeholder: runtime/agent/agentFeature.ts provides the role router as an effect.
    runTask: fromPromise<TaskResult, RunTaskInput>(async () => {
      throw new Error('no runTask provided')
    }),
  },
  delays: {
    detachTtl: ({ context }) => context.detachTtlMs,
  },
  guards: {
    hasQueued: ({ context }) => context.queue.length > 0,
    acceptable: ({ context, event }) => isNewTask(context, event) && context.queue.length < context.maxQueue,
    queueFull: ({ context, event }) => isNewTask(context, event) && context.queue.length >= context.maxQueue,
  },
  actions: {
    enqueue: assign({
      queue: ({ context, event }) => {
        assertEvent(event, 'agent.task')
        return [...context.queue, event.task]
      },
    }),
    refuse: assign({
      refused: ({ context }) => context.refused + 1,
      outcomes: ({ context, event }) => {
        assertEvent(event, 'agent.task')
        return pushOutcome(context, {
          taskId: event.task.taskId,
          role: event.task.role,
          ok: false,
          fallbacks: 0,
          cached: false,
          requestId: '',
          error: {
            code: 'QUEUE_FULL',
            message: `the session already has ${context.maxQueue} queued tasks; wait for results`,
          },
        })
      },
      nextN: ({ context }) => context.nextN + 1,
    }),
    dequeue: assign({
      current: ({ context }) => context.queue[0] ?? null,
      queue: ({ context }) => context.queue.slice(1),
    }),
    recordResult: assign(({ context }, r: TaskResult) => {
      const task = context.current!
      const outcome: Omit<TaskOutcome, 'n'> = {
        taskId: task.taskId,
        role: task.role,
        ok: r.ok,
        fallbacks: r.fallbacks,
        cached: r.cached,
        requestId: r.requestId,
      }
      if (r.text !== undefined) outcome.text = r.text
      if (r.provider !== undefined) outcome.provider = r.provider
      if (r.model !== undefined) outcome.model = r.model
      if (r.latencyMs !== undefined) outcome.latencyMs = r.latencyMs
      if (r.error) outcome.error = r.error
      let history = context.history
      if (r.ok && r.text !== undefined) {
        history = [
          ...history,
          { role: 'user', content: task.prompt, taskId: task.taskId },
          { role: 'assistant', content: r.text, taskId: task.taskId, agentRole: task.role },
        ]
        if (history.length > context.maxHistory) history = history.slice(history.length - context.maxHistory)
      }
      return { outcomes: pushOutcome(context, outcome), nextN: context.nextN + 1, history, current: null }
    }),
    recordCrash: assign(({ context }) => {
      const task = context.current!
      // A constant message: the error object itself does not survive the journal, and replay
      // must compute the same context as the live run.
      const outcome = {
        taskId: task.taskId,
        role: task.role,
        ok: false,
        fallbacks: 0,
        cached: false,
        requestId: '',
        error: { code: 'TASK_EFFECT_FAILED', message: 'the task effect failed; see the hub incidents' },
      }
      return { outcomes: pushOutcome(context, outcome), nextN: context.nextN + 1, current: null }
    }),
    // Runs on `session.close` and on the detach timer (which carries no reason).
    markClosed: assign({
      closedReason: ({ event }) =>
        event.type === 'session.close' ? (event.reason ?? 'closed by the client') : 'detached too long',
    }),
  },
}).createMachine({
  id: 'agentSession',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    detachTtlMs: input.detachTtlMs ?? 3_600_000,
    maxHistory: input.maxHistory ?? 40,
    maxOutcomes: input.maxOutcomes ?? 100,
    maxQueue: input.maxQueue ?? 32,
    history: [],
    queue: [],
    current: null,
    outcomes: [],
    nextN: 1,
    refused: 0,
    closedReason: null,
  }),
  initial: 'live',
  states: {
    live: {
      type: 'parallel',
      on: {
        'session.close': { target: 'closed', actions: 'markClosed' },
        'agent.task': [
          { guard: 'acceptable', actions: 'enqueue' },
          { guard: 'queueFull', actions: 'refuse' },
        ],
      },
      states: {
        connection: {
          initial: 'attached',
          states: {
            attached: { on: { 'session.detach': 'detached' } },
            detached: {
              on: { 'session.attach': 'attached' },
              after: { detachTtl: { target: '#agentSession.closed', actions: 'markClosed' } },
            },
          },
        },
        work: {
          initial: 'idle',
          states: {
            idle: {
              always: { guard: 'hasQueued', target: 'working', actions: 'dequeue' },
            },
            working: {
              invoke: {
                id: 'task',
                src: 'runTask',
                input: ({ context }) => ({
                  sessionId: context.sessionId,
                  task: context.current!,
                  history: context.history,
                }),
                onDone: { target: 'idle', actions: { type: 'recordResult', params: output } },
                onError: { target: 'idle', actions: 'recordCrash' },
              },
            },
          },
        },
      },
    },
    closed: { type: 'final' },
  },
})

export default agentSession
