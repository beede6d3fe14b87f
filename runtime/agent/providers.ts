/**
 * Model providers behind one interface, over Node's fetch: OpenAI-compatible chat completions
 * (`POST {baseUrl}/chat/completions`: OpenAI, LiteLLM, vLLM, llama.cpp, Ollama's /v1) and
 * Anthropic's messages API (`POST {baseUrl}/v1/messages`). Each call carries its request id as
 * `Idempotency-Key` and `X-Request-Id`, so a provider or proxy that deduplicates can; errors are
 * `ProviderError`s with a stable code the role router uses to fall back, and their messages are
 * redacted before they leave this file.
 */
import type { ProviderSpec } from './harness.ts'
import type { Secrets } from './redact.ts'

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
  /** Image URLs (http(s) or data:image/...) attached to this message (vision). */
  images?: string[]
}

export interface ChatRequest {
  model: string
  messages: ChatMessage[]
  requestId: string
  timeoutMs: number
  signal?: AbortSignal
}

export interface ChatAnswer {
  text: string
  model: string
  usage?: { inputTokens?: number; outputTokens?: number }
}

export type ProviderErrorCode =
  | 'RATE_LIMITED'
  | 'TIMEOUT'
  | 'HTTP_ERROR'
  | 'NETWORK'
  | 'BAD_RESPONSE'
  | 'KEY_MISSING'
  | 'ABORTED'

/** A provider call failed; `code` says how (the role router falls back on every code but ABORTED). */
export class ProviderError extends Error {
  constructor(
    readonly code: ProviderErrorCode,
    readonly provider: string,
    message: string,
    readonly status?: number,
  ) {
    super(`${provider}: ${message}`)
    this.name = 'ProviderError'
  }
}

export interface ModelProvider {
  readonly name: string
  readonly kind: ProviderSpec['kind']
  chat(req: ChatRequest): Promise<ChatAnswer>
  /** A cheap reachability check (lists models); resolves when the provider answers. */
  probe(signal: AbortSignal): Promise<void>
}

/** Builds the provider `name` of a harness. */
export function createProvider(name: string, spec: ProviderSpec, secrets: Secrets): ModelProvider {
  return spec.kind === 'anthropic'
    ? new AnthropicProvider(name, spec, secrets)
    : new OpenAICompatibleProvider(name, spec, secrets)
}

abstract class HttpProvider implements ModelProvider {
  abstract readonly kind: ProviderSpec['kind']
  constructor(
    readonly name: string,
    protected spec: ProviderSpec,
    protected secrets: Secrets,
  ) {}

  abstract chat(req: ChatRequest): Promise<ChatAnswer>
  abstract probe(signal: AbortSignal): Promise<void>

  protected key(): string | undefined {
    if (!this.spec.apiKeyEnv) return undefined
    const k = this.secrets.key(this.name)
    if (!k)
      throw new ProviderError(
        'KEY_MISSING',
        this.name,
        `the environment variable ${this.spec.apiKeyEnv} (named in providers.${this.name}.apiKeyEnv) is not set`,
      )
    return k
  }

  /** What a chat answered: its text (redacted), the model that answered and the tokens counted. */
  protected answer(
    req: ChatRequest,
    j: any,
    text: string,
    inputTokens: number | undefined,
    outputTokens: number | undefined,
  ): ChatAnswer {
    return {
      text: this.secrets.redact(text),
      model: typeof j.model === 'string' ? j.model : req.model,
      usage: { inputTokens, outputTokens },
    }
  }

  /** A health probe: GET the provider's list of models at `path` with `headers`. */
  protected async probeModels(path: string, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
    await this.request(`${this.spec.baseUrl}${path}`, { headers }, this.spec.timeoutMs ?? 5_000, signal)
  }

  /** fetch with a deadline; maps every failure to a ProviderError with a redacted message. */
  protected async request(url: string, init: RequestInit, timeoutMs: number, outer?: AbortSignal): Promise<any> {
    const deadline = AbortSignal.timeout(timeoutMs)
    const signal = outer ? AbortSignal.any([outer, deadline]) : deadline
    let res: Response
    try {
      res = await fetch(url, { ...init, signal })
    } catch (err) {
      throw this.failure(err, deadline, outer, timeoutMs)
    }
    let text: string
    try {
      text = await res.text()
    } catch (err) {
      throw this.failure(err, deadline, outer, timeoutMs)
    }
    if (res.status === 429) {
      const after = res.headers.get('retry-after')
      throw new ProviderError(
        'RATE_LIMITED',
        this.name,
        `rate limited (429)${after ? `, retry after ${after}s` : ''}: ${this.snippet(text)}`,
        429,
      )
    }
    if (!res.ok)
      throw new ProviderError('HTTP_ERROR', this.name, `HTTP ${res.status}: ${this.snippet(text)}`, res.status)
    try {
      return JSON.parse(text)
    } catch {
      throw new ProviderError('BAD_RESPONSE', this.name, `the answer is not JSON: ${this.snippet(text)}`, res.status)
    }
  }

  private failure(
    err: unknown,
    deadline: AbortSignal,
    outer: AbortSignal | undefined,
    timeoutMs: number,
  ): ProviderError {
    if (outer?.aborted) return new ProviderError('ABORTED', this.name, 'the call was cancelled')
    if (deadline.aborted) return new ProviderError('TIMEOUT', this.name, `no answer within ${timeoutMs} ms`)
    const cause = (err as any)?.cause
    const why = cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err)
    return new ProviderError(
      'NETWORK',
      this.name,
      `cannot reach ${this.spec.baseUrl}: ${this.secrets.redact(String(why))}`,
    )
  }

  /** A short, redacted excerpt of an error body (the provider's own message when it has one). */
  protected snippet(text: string): string {
    let msg = text
    try {
      const j = JSON.parse(text)
      msg = j?.error?.message ?? j?.message ?? text
      if (typeof msg !== 'string') msg = JSON.stringify(msg)
    } catch {
      // not JSON: use the text
    }
    msg = this.secrets.redact(msg)
    return msg.length > 300 ? msg.slice(0, 300) + '...' : msg
  }
}

/** OpenAI-compatible chat completions (OpenAI, LiteLLM, local model servers). */
export class OpenAICompatibleProvider extends HttpProvider {
  readonly kind = 'openai' as const

  async chat(req: ChatRequest): Promise<ChatAnswer> {
    const key = this.key()
    const body: Record<string, unknown> = {
      model: req.model,
      messages: req.messages.map((m) =>
        m.images?.length
          ? {
              role: m.role,
              content: [
                { type: 'text', text: m.content },
                ...m.images.map((url) => ({ type: 'image_url', image_url: { url } })),
              ],
            }
          : { role: m.role, content: m.content },
      ),
    }
    if (this.spec.maxTokens) body.max_tokens = this.spec.maxTokens
    const j = await this.request(
      `${this.spec.baseUrl}/chat/completions`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          'idempotency-key': req.requestId,
          'x-request-id': req.requestId,
        },
        body: JSON.stringify(body),
      },
      req.timeoutMs,
      req.signal,
    )
    const content = j?.choices?.[0]?.message?.content
    const text =
      typeof content === 'string'
        ? content
        : Array.isArray(content)
          ? content.map((p: any) => (typeof p?.text === 'string' ? p.text : '')).join('')
          : undefined
    if (typeof text !== 'string')
      throw new ProviderError('BAD_RESPONSE', this.name, 'the answer has no choices[0].message.content')
    return this.answer(req, j, text, j?.usage?.prompt_tokens, j?.usage?.completion_tokens)
  }

  async probe(signal: AbortSignal): Promise<void> {
    const key = this.key()
    await this.probeModels('/models', key ? { authorization: `Bearer ${key}` } : {}, signal)
  }
}

/** Anthropic's messages API. */
export class AnthropicProvider extends HttpProvider {
  readonly kind = 'anthropic' as const

  private headers(key: string | undefined): Record<string, string> {
    return {
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      ...(key ? { 'x-api-key': key } : {}),
    }
  }

  async chat(req: ChatRequest): Promise<ChatAnswer> {
    const key = this.key()
    const system = req.messages
      .filter((m) => m.role === 'system')
      .map((m) => m.content)
      .join('\n\n')
    const messages = req.messages
      .filter((m) => m.role !== 'system')
      .map((m) => ({
        role: m.role,
        content: m.images?.length ? [...m.images.map(imageBlock), { type: 'text', text: m.content }] : m.content,
      }))
    const body: Record<string, unknown> = { model: req.model, max_tokens: this.spec.maxTokens ?? 1024, messages }
    if (system) body.system = system
    const j = await this.request(
      `${this.spec.baseUrl}/v1/messages`,
      {
        method: 'POST',
        headers: { ...this.headers(key), 'idempotency-key': req.requestId, 'x-request-id': req.requestId },
        body: JSON.stringify(body),
      },
      req.timeoutMs,
      req.signal,
    )
    if (!Array.isArray(j?.content))
      throw new ProviderError('BAD_RESPONSE', this.name, 'the answer has no "content" array')
    const text = j.content
      .filter((b: any) => b?.type === 'text' && typeof b.text === 'string')
      .map((b: any) => b.text)
      .join('')
    return this.answer(req, j, text, j?.usage?.input_tokens, j?.usage?.output_tokens)
  }

  async probe(signal: AbortSignal): Promise<void> {
    await this.probeModels('/v1/models', this.headers(this.key()), signal)
  }
}

function imageBlock(url: string): unknown {
  const m = /^data:(image\/[a-z+.-]+);base64,(.*)$/s.exec(url)
  return m
    ? { type: 'image', source: { type: 'base64', media_type: m[1], data: m[2] } }
    : { type: 'image', source: { type: 'url', url } }
}
