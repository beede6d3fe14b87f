/**
 * A local model provider for tests and benchmarks: OpenAI-compatible `POST /v1/chat/completions`,
 * Anthropic `POST /v1/messages` and `GET /v1/models` on 127.0.0.1, with scripted errors, hangs and
 * 429s. It counts calls per request id (`Idempotency-Key`) as they arrive (`calls`) and as they are
 * answered (`answered`, a delivered 200: what a real provider bills), so tests can prove a retry
 * was not paid twice.
 *
 * Behaviour per model, unless a script is queued with `script(model, steps)`: names starting
 * `hang` never answer, `fail` answer 500, `rate` answer 429, `slow` answer after 300 ms, `badkey`
 * answer 401 quoting the key they were given (as some providers do); others
 * answer at once. An answer to a prompt containing `Reply with exactly: X` is `X`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { EventEmitter } from 'node:events'

export type Step =
  | 'ok'
  | { status: number; message?: string; echoKey?: boolean; retryAfter?: number }
  | { hang: true }
  | { delayMs: number }

export interface RequestInfo {
  api: 'openai' | 'anthropic' | 'models'
  model: string
  requestId: string
  prompt: string
  images: number
}

export interface FakeProviderOptions {
  /** The key clients must present (Bearer for OpenAI, x-api-key for Anthropic); none if absent. */
  key?: string
  /** Every request (models and chat) hangs: a provider that accepts connections and never answers. */
  hangAll?: boolean
}

export class FakeProvider extends EventEmitter {
  readonly calls = new Map<string, number>()
  readonly answered = new Map<string, number>()
  readonly byModel = new Map<string, number>()
  total = 0
  aborted = 0
  url = ''
  private server: Server
  private scripts = new Map<string, Step[]>()
  private hangs = new Set<ServerResponse>()

  constructor(readonly opts: FakeProviderOptions = {}) {
    super()
    this.server = createServer((req, res) => void this.handle(req, res))
  }

  static async start(opts: FakeProviderOptions = {}): Promise<FakeProvider> {
    const p = new FakeProvider(opts)
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', () => r()))
    p.url = `http://127.0.0.1:${(p.server.address() as AddressInfo).port}`
    return p
  }

  /** Queues steps for the next calls to `model` (then its default behaviour resumes). */
  script(model: string, steps: Step[]): void {
    this.scripts.set(model, [...(this.scripts.get(model) ?? []), ...steps])
  }

  reset(): void {
    this.calls.clear()
    this.answered.clear()
    this.byModel.clear()
    this.scripts.clear()
    this.total = 0
    this.aborted = 0
  }

  async close(): Promise<void> {
    for (const r of this.hangs) r.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((r) => this.server.close(() => r()))
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const given =
      req.headers['x-api-key'] ??
      (req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined)
    const api =
      url.pathname === '/v1/chat/completions'
        ? 'openai'
        : url.pathname === '/v1/messages'
          ? 'anthropic'
          : url.pathname === '/v1/models'
            ? 'models'
            : null
    if (!api || (api === 'models' ? req.method !== 'GET' : req.method !== 'POST'))
      return json(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } })
    if (this.opts.key && given !== this.opts.key)
      return json(res, 401, { error: { message: `Incorrect API key provided: ${String(given)}` } })
    let body: any = {}
    if (api !== 'models') {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
      } catch {
        return json(res, 400, { error: { message: 'body is not JSON' } })
      }
    }
    const model = api === 'models' ? (url.searchParams.get('model') ?? '') : String(body.model ?? '')
    const messages: any[] = Array.isArray(body.messages) ? body.messages : []
    const last = [...messages].reverse().find((m) => m.role === 'user')
    const prompt =
      typeof last?.content === 'string'
        ? last.content
        : Array.isArray(last?.content)
          ? last.content
              .filter((p: any) => p.type === 'text')
              .map((p: any) => p.text)
              .join('')
          : ''
    const images = Array.isArray(last?.content)
      ? last.content.filter((p: any) => p.type === 'image_url' || p.type === 'image').length
      : 0
    const requestId = String(req.headers['idempotency-key'] ?? '')
    const info: RequestInfo = { api, model, requestId, prompt, images }
    if (api !== 'models') {
      this.total++
      this.calls.set(requestId, (this.calls.get(requestId) ?? 0) + 1)
      this.byModel.set(model, (this.byModel.get(model) ?? 0) + 1)
    }
    this.emit('request', info)
    if (this.opts.hangAll) return this.hang(res)
    if (api === 'models') {
      return json(res, 200, { object: 'list', data: [{ id: 'fake-model', object: 'model' }] })
    }
    const queued = this.scripts.get(model)
    let step: Step = queued?.length
      ? queued.shift()!
      : model.startsWith('badkey')
        ? { status: 401, echoKey: true }
        : model.startsWith('hang')
          ? { hang: true }
          : model.startsWith('fail')
            ? { status: 500, message: 'internal error' }
            : model.startsWith('rate')
              ? { status: 429, message: 'rate limit exceeded', retryAfter: 1 }
              : model.startsWith('slow')
                ? { delayMs: 300 }
                : 'ok'
    if (typeof step === 'object' && 'hang' in step) return this.hang(res)
    if (typeof step === 'object' && 'delayMs' in step) {
      const delay = step.delayMs
      const closed = await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), delay)
        res.once('close', () => {
          clearTimeout(t)
          r(!res.writableFinished)
        })
      })
      if (closed) {
        this.aborted++
        return
      }
      step = 'ok'
    }
    if (typeof step === 'object' && 'status' in step) {
      const message = step.echoKey
        ? `Incorrect API key provided: ${String(given)}`
        : (step.message ?? `status ${step.status}`)
      if (step.retryAfter) res.setHeader('retry-after', String(step.retryAfter))
      return json(res, step.status, { error: { message, type: 'scripted' } })
    }
    const text = answerFor(prompt)
    res.once('finish', () => {
      this.answered.set(requestId, (this.answered.get(requestId) ?? 0) + 1)
      this.emit('answered', info)
    })
    if (api === 'openai') {
      return json(res, 200, {
        id: `chatcmpl-${this.total}`,
        object: 'chat.completion',
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }],
        usage: { prompt_tokens: prompt.length, completion_tokens: text.length },
      })
    }
    return json(res, 200, {
      id: `msg_${this.total}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      usage: { input_tokens: prompt.length, output_tokens: text.length },
    })
  }

  private hang(res: ServerResponse): void {
    this.hangs.add(res)
    res.once('close', () => {
      this.hangs.delete(res)
      this.aborted++
    })
  }
}

/** The fake model's answer: the text after `Reply with exactly:` or an echo. */
export function answerFor(prompt: string): string {
  const m = /Reply with exactly:\s*(\S[^\n]*)/.exec(prompt)
  return m ? m[1].trim() : `echo: ${prompt.slice(0, 60)}`
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}
