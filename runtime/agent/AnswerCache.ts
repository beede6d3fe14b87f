/**
 * Class B answers: a provider's answer cached by request id, so a retried call (the session's
 * task effect re-run after a crash, with the same idempotency key) is answered from here instead
 * of paying for a second call. Stored in the hub's LevelDB (a sublevel, apart from the journal),
 * written with sync before the answer is handed back.
 */
import { openSublevel, type Sublevel } from '../keyLayout.ts'
import type { LevelStore } from '../LevelStore.ts'

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

/** The LevelDB cache, in the `agent-answers` sublevel of the hub's database (runtime/keyLayout.ts). */
export class LevelAnswerCache implements AnswerCache {
  private sub: Sublevel<CachedAnswer>
  constructor(store: LevelStore) {
    this.sub = openSublevel(store, 'agent-answers')
  }
  async get(requestId: string): Promise<CachedAnswer | undefined> {
    return (await this.sub.get(requestId)) ?? undefined
  }
  async put(requestId: string, answer: CachedAnswer): Promise<void> {
    await this.sub.put(requestId, answer, { sync: true } as object)
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
