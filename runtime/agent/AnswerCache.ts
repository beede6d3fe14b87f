/**
 * Class B answers: a provider's answer cached by request id, so a retried call (the session's
 * task effect re-run after a crash, with the same idempotency key) is answered from here instead
 * of paying for a second call. Stored in the hub's LevelDB (a sublevel, apart from the journal),
 * written with sync before the answer is handed back.
 */
import type { AbstractLevel } from 'abstract-level'

export interface CachedAnswer {
  text: string
  provider: string
  model: string
  /** Failed or skipped attempts before this answer. */
  fallbacks: number
  at: number
}

export interface AnswerCache {
  get(requestId: string): Promise<CachedAnswer | undefined>
  put(requestId: string, answer: CachedAnswer): Promise<void>
}

/** The LevelDB cache, in a sublevel of the hub's database (`db` is `hub.store.db`). */
export class LevelAnswerCache implements AnswerCache {
  private sub: any
  constructor(db: AbstractLevel<any, string, string>) {
    this.sub = (db as any).sublevel('agent-answers', { keyEncoding: 'utf8', valueEncoding: 'json' })
  }
  async get(requestId: string): Promise<CachedAnswer | undefined> {
    return (await this.sub.get(requestId)) ?? undefined
  }
  async put(requestId: string, answer: CachedAnswer): Promise<void> {
    await this.sub.put(requestId, answer, { sync: true })
  }
}

/** A cache in memory (for callers without a store). */
export class MemoryAnswerCache implements AnswerCache {
  private m = new Map<string, CachedAnswer>()
  async get(id: string) {
    return this.m.get(id)
  }
  async put(id: string, a: CachedAnswer) {
    this.m.set(id, a)
  }
}
