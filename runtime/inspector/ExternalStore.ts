/**
 * The recordings of external actors (apps Aether watches but does not host), in the hub's LevelDB
 * under their own sublevel `ext`, so they survive a hub restart and never mix with the actor
 * host's keys (recovery does not read them: an external actor is never hosted).
 *
 * Key layout inside the sublevel (runtime/keyLayout.ts builds the keys; `!` sorts below every
 * character an id path or app name holds):
 *   n!<app>                 the app's last run number (decimal text)
 *   u!<app>!<run hex6>      a run: ExternalRunRecord (JSON)
 *   m!<path>                an external actor: ExternalMeta (JSON)
 *   e!<path>!<seq hex12>    an event line of its log (protocol/log.ts, JSON)
 *   s!<path>!<seq hex12>    a snapshot line of its log; seq 0 is the first state the hub saw
 *   d!<sha256 hex>          a machine definition {text, json}, shared by every actor that sent it
 *
 * Writes of one tick go in one batch, without fsync: a recording survives a crash of the hub
 * process (LevelDB has written its log), not a power loss. The exported log (`exportLog`) is an
 * `aether.log/1` text that `aether replay --verify` checks like a hosted actor's.
 */
import { externalKeys as keys, range } from '../keyLayout.ts'
import { LOG_FORMAT, type LogEventLine, type LogHeader, type LogSnapshotLine } from '../../protocol/log.ts'

/** The part of an abstract-level database this store uses (the hub's LevelDB sublevel). */
export interface ExternalDb {
  batch(): { put(key: string, value: string): unknown; write(): Promise<void> }
  get(key: string): Promise<string | undefined>
  iterator(range: {
    gte?: string
    gt?: string
    lt?: string
    lte?: string
    reverse?: boolean
    limit?: number
  }): AsyncIterable<[string, string]> & { all(): Promise<[string, string][]>; close(): Promise<void> }
}

/** Which library the app inspects itself with. */
export type ExternalSource = 'statelyai-inspect' | 'xstate-inspect'

/** One connection of an app: a run. */
export interface ExternalRunRecord {
  app: string
  run: number
  source: ExternalSource
  /** The app's WebSocket URL when the hub attached to it (`@xstate/inspect`). */
  url?: string
  startedAt: number
  endedAt?: number
  /** Why the run ended (the close code and reason, or the refused frame). */
  endReason?: string
}

/** An external actor's record: what a log header needs, and where it sits in its app. */
export interface ExternalMeta {
  path: string
  app: string
  run: number
  source: ExternalSource
  /** The actor's name in its app (its id, or its machine's id). */
  name: string
  /** The machine's id ('' for logic that is not a machine, e.g. a promise). */
  machine: string
  parent?: string
  /** Key of the stored definition (`d!`), when the app sent one that the hub could read. */
  definition?: string
  machineHash?: string
  input?: unknown
  /**
   * Where its log starts: `init` (the hub saw it start: replay begins with the machine's initial
   * state for `input`) or `snapshot` (it was already running: the seq 0 snapshot line is the start).
   */
  start: 'init' | 'snapshot'
  createdAt: number
}

/** A stored definition: the text the app sent and the `toJSON()` form the inspector draws. */
export interface StoredDefinition {
  text: string
  json: unknown
}

const seqOf = (key: string) => parseInt(key.slice(key.lastIndexOf('!') + 1), 16)

export class ExternalStore {
  private pending: Array<[string, string]> = []
  private writing: Promise<void> = Promise.resolve()
  private scheduled = false
  /** Write failures so far (a failed batch is reported once and not retried). */
  errors = 0

  constructor(
    private db: ExternalDb,
    private onError: (err: Error) => void = () => {},
  ) {}

  /** The next run number of `app` (1, 2, ...), durably counted. */
  async nextRun(app: string): Promise<number> {
    // Run numbers are handed out one at a time: two connections of one app never share one.
    const next = this.writing.then(async () => {
      const last = Number((await this.db.get(keys.lastRun(app))) ?? 0)
      const n = (Number.isSafeInteger(last) ? last : 0) + 1
      const b = this.db.batch()
      b.put(keys.lastRun(app), String(n))
      await b.write()
      return n
    })
    this.writing = next.then(
      () => {},
      () => {},
    )
    return next
  }

  putRun(r: ExternalRunRecord): void {
    this.put(keys.run(r.app, r.run), JSON.stringify(r))
  }

  putMeta(m: ExternalMeta): void {
    this.put(keys.meta(m.path), JSON.stringify(m))
  }

  putEvent(path: string, line: LogEventLine): void {
    this.put(keys.event(path, line.seq), JSON.stringify(line))
  }

  putSnapshot(path: string, line: LogSnapshotLine): void {
    this.put(keys.snapshot(path, line.seq), JSON.stringify(line))
  }

  putDefinition(key: string, d: StoredDefinition): void {
    this.put(keys.definition(key), JSON.stringify(d))
  }

  /** Resolves when everything put so far is written (every read waits for it: reads see every put). */
  flush(): Promise<void> {
    if (this.pending.length) this.write()
    return this.writing
  }

  async meta(path: string): Promise<ExternalMeta | undefined> {
    await this.flush()
    const v = await this.db.get(keys.meta(path))
    return v === undefined ? undefined : (JSON.parse(v) as ExternalMeta)
  }

  async definition(key: string): Promise<StoredDefinition | undefined> {
    await this.flush()
    const v = await this.db.get(keys.definition(key))
    return v === undefined ? undefined : (JSON.parse(v) as StoredDefinition)
  }

  /** Runs, newest first per app, at most `limit` in all. */
  async runs(limit = 1000): Promise<ExternalRunRecord[]> {
    await this.flush()
    const rows = await this.db.iterator(range(keys.runs)).all()
    const out = rows.map(([, v]) => JSON.parse(v) as ExternalRunRecord)
    out.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : b.run - a.run))
    return out.slice(0, limit)
  }

  /** The actors of a run, in path order. */
  async metas(app: string, run: number): Promise<ExternalMeta[]> {
    await this.flush()
    const p = keys.metasOfRun(app, run)
    // '0' follows '/': the range of the paths under `app/run/`
    const rows = await this.db.iterator({ gte: p, lt: `${p.slice(0, -1)}0` }).all()
    return rows.map(([, v]) => JSON.parse(v) as ExternalMeta)
  }

  /** The snapshot line at or before `seq` (the state an actor was in after that event). */
  async snapshotAt(path: string, seq: number): Promise<LogSnapshotLine | undefined> {
    await this.flush()
    for await (const [, v] of this.db.iterator({
      gte: keys.snapshots(path),
      lte: keys.snapshot(path, seq),
      reverse: true,
      limit: 1,
    }))
      return JSON.parse(v) as LogSnapshotLine
    return undefined
  }

  /**
   * The log lines of `path` after `afterSeq` in log order: each event line, then the snapshot line
   * of the same seq when there is one. `withStart` also yields the seq 0 snapshot line first.
   */
  async *lines(path: string, afterSeq = 0, withStart = false): AsyncGenerator<LogEventLine | LogSnapshotLine> {
    await this.flush()
    const snaps = this.db.iterator({
      gte: keys.snapshot(path, withStart ? 0 : afterSeq + 1),
      lt: range(keys.snapshots(path)).lt,
    })
    const events = this.db.iterator({ gt: keys.event(path, afterSeq), lt: range(keys.events(path)).lt })
    const si = snaps[Symbol.asyncIterator]()
    try {
      let s = await si.next()
      if (withStart && !s.done && seqOf(s.value[0]) === 0) {
        yield JSON.parse(s.value[1])
        s = await si.next()
      }
      for await (const [key, value] of events) {
        const seq = seqOf(key)
        yield JSON.parse(value)
        while (!s.done && seqOf(s.value[0]) < seq) s = await si.next()
        if (!s.done && seqOf(s.value[0]) === seq) {
          yield JSON.parse(s.value[1])
          s = await si.next()
        }
      }
    } finally {
      await snaps.close()
    }
  }

  /** The actor's recording as an `aether.log/1` text, line by line. */
  async *exportLog(path: string): AsyncGenerator<string> {
    const m = await this.meta(path)
    if (!m) return
    const header: LogHeader = { format: LOG_FORMAT, actor: m.path, machine: m.machine || m.name, at: m.createdAt }
    if (m.machineHash) header.machineHash = m.machineHash
    if (m.input !== undefined) header.input = m.input
    if (m.parent !== undefined) header.parent = m.parent
    yield JSON.stringify(header) + '\n'
    for await (const l of this.lines(path, 0, m.start === 'snapshot')) yield JSON.stringify(l) + '\n'
  }

  private put(key: string, value: string): void {
    this.pending.push([key, value])
    if (this.scheduled) return
    this.scheduled = true
    // one batch per tick: an app's burst of frames is one write
    setImmediate(() => {
      this.scheduled = false
      this.write()
    })
  }

  private write(): void {
    const ops = this.pending
    if (!ops.length) return
    this.pending = []
    const b = this.db.batch()
    for (const [k, v] of ops) b.put(k, v)
    this.writing = this.writing
      .then(() => b.write())
      .catch((err) => {
        this.errors++
        this.onError(err as Error)
      })
  }
}
