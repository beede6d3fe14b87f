/**
 * The key layout of a hub's LevelDB: every key space (a key prefix or a sublevel) the project
 * writes, who owns it, and the functions that build its keys. Nothing else names a prefix or opens
 * a sublevel; docs/storage.md is generated from `KEY_SPACES` and a test checks that no space's
 * range overlaps another's.
 *
 * Keys are strings. `!` ends every prefix and separates the parts of a key: it sorts below every
 * character an id path, hub id, stream or name may hold, so the keys of one prefix form one
 * contiguous range, `[prefix, prefix with its last "!" replaced by '"')` (`range(prefix)`).
 * Numbers in keys are fixed-width lower-case hex, so they sort in numeric order.
 *
 * A sublevel named `x` is abstract-level's: its keys sit under `!x!` in the database, and its
 * values have their own encoding (binary for Yjs updates, JSON for metadata).
 *
 * Timers and jobs have no space of their own: a timer is a journal record of the actor that set
 * it, a job is a durable actor (`job-<id>`), so both live in the actor spaces (a finished job
 * retired past retention in the archive spaces a!, t!, n!).
 */
import type { AbstractSublevel } from 'abstract-level'
import { code, generatedPage } from './generatedDoc.ts'
import type { LevelStore } from './LevelStore.ts'

/** One key space: a prefix of the hub's database, or a sublevel (`!name!`), or a prefix inside one. */
export interface KeySpace {
  /** The key prefix, as it appears in the database (a sublevel's is `!name!`). */
  prefix: string
  /** The space this one is inside (its prefix starts with the parent's); none at the top. */
  parent?: string
  /** The shape of a key, for the docs. */
  key: string
  /** What a value is. */
  value: string
  /** The module that reads and writes it. */
  owner: string
}

/** The key spaces, by name. Sublevel names are the part between the `!`s. */
export const KEY_SPACES = {
  meta: { prefix: 'm!', key: 'm!<path>', value: 'actor meta (JSON)', owner: 'runtime/LevelStore.ts' },
  journal: {
    prefix: 'e!',
    key: 'e!<path>!<first seq hex12>',
    value: "a journal segment: the JSON array of one actor's records of one group commit",
    owner: 'runtime/LevelStore.ts',
  },
  rejected: {
    prefix: 'r!',
    key: 'r!<path>!<seq hex12>',
    value: 'a rejected-event marker: the message of the error the event caused',
    owner: 'runtime/LevelStore.ts',
  },
  snapshots: {
    prefix: 's!',
    key: 's!<path>!<seq hex12>',
    value: 'a snapshot record (JSON)',
    owner: 'runtime/LevelStore.ts',
  },
  latest: {
    prefix: 'l!',
    key: 'l!<path>',
    value: 'the latest snapshot record again, so recovery reads them in one scan',
    owner: 'runtime/LevelStore.ts',
  },
  clean: {
    prefix: 'c!',
    key: 'c!clean, c!image!<n hex6>',
    value: 'between a clean close and the next open: the marker and the recovery image chunks',
    owner: 'runtime/LevelStore.ts',
  },
  cleanMarker: {
    prefix: 'c!clean',
    parent: 'clean',
    key: 'c!clean',
    value: 'the time of the clean close',
    owner: 'runtime/LevelStore.ts',
  },
  cleanImage: {
    prefix: 'c!image!',
    parent: 'clean',
    key: 'c!image!<n hex6>',
    value: 'a chunk of the recovery image: the JSON array of [meta, latest snapshot] of live actors',
    owner: 'runtime/LevelStore.ts',
  },
  incidents: {
    prefix: 'i!',
    key: 'i!<at hex12>!<n base36>',
    value: 'an incident (JSON)',
    owner: 'runtime/LevelStore.ts',
  },
  archive: {
    prefix: 'a!',
    key: 'a!<path>',
    value:
      'an archived actor (a retired finished job): its ArchiveRecord (JSON); its m! and l! are gone, its journal stays',
    owner: 'runtime/LevelStore.ts',
  },
  archiveByFinish: {
    prefix: 't!',
    key: 't!<finishedAt hex12>!<path>',
    value: 'the archive by finish time (empty)',
    owner: 'runtime/LevelStore.ts',
  },
  archiveByName: {
    prefix: 'n!',
    key: 'n!<name>',
    value: "the path of the archived actor with that name (a job's tenant, NUL, key)",
    owner: 'runtime/LevelStore.ts',
  },
  format: {
    prefix: 'f!',
    key: 'f!store',
    value: 'the highest actor store format written (decimal; runtime/actorRecords.ts); absent: format 1 only',
    owner: 'runtime/LevelStore.ts',
  },
  machineVersions: {
    prefix: 'h!',
    key: 'h!<id hex16>',
    value:
      'a machine version {machine, machineHash, codeHash}, stored once; format 2 metas and archive records name it by id',
    owner: 'runtime/LevelStore.ts',
  },
  link: {
    prefix: 'L!',
    key: 'L!...',
    value: "the hub's side of the link to root",
    owner: 'runtime/link/',
  },
  linkHubId: {
    prefix: 'L!hubId',
    parent: 'link',
    key: 'L!hubId',
    value: "the hub's id toward root, generated once",
    owner: 'runtime/link/linkFeature.ts',
  },
  outbox: {
    prefix: 'L!o!',
    parent: 'link',
    key: 'L!o!<hub>!<stream>!<first cursor hex12>',
    value: 'a Class A outbox segment: the JSON array of the envelopes of one append',
    owner: 'runtime/link/Outbox.ts',
  },
  outboxAcked: {
    prefix: 'L!m!',
    parent: 'link',
    key: 'L!m!<hub>!<stream>',
    value: '{"acked": N}: the highest cursor the root acked',
    owner: 'runtime/link/Outbox.ts',
  },
  root: { prefix: 'R!', key: 'R!...', value: "the root's inboxes and answers", owner: 'runtime/root/RootService.ts' },
  rootInbox: {
    prefix: 'R!c!',
    parent: 'root',
    key: 'R!c!<hub>!<stream>',
    value: 'inbox state {cursor, applied, duplicates, stale, gaps, idDuplicates}',
    owner: 'runtime/root/RootService.ts',
  },
  rootApplied: {
    prefix: 'R!a!',
    parent: 'root',
    key: 'R!a!<hub>!<stream>!<cursor hex12>',
    value: 'the records applied from one frame (also the ids seen)',
    owner: 'runtime/root/RootService.ts',
  },
  rootProvenance: {
    prefix: 'R!p!',
    parent: 'root',
    key: 'R!p!<hub>!<stream>!<n hex12>',
    value: 'provenance of a refused record {id, cursor, receivedAt, result}',
    owner: 'runtime/root/RootService.ts',
  },
  rootAnswers: {
    prefix: 'R!k!',
    parent: 'root',
    key: 'R!k!<hub>!<key>',
    value: 'a Class B answer {at, answer}',
    owner: 'runtime/root/RootService.ts',
  },
  rootHubs: {
    prefix: 'R!h!',
    parent: 'root',
    key: 'R!h!<hub>',
    value: 'a hub registration {registeredAt, registrations}',
    owner: 'runtime/root/RootService.ts',
  },
  'agent-answers': {
    prefix: '!agent-answers!',
    key: 'sublevel agent-answers: <request id>',
    value: "a provider's answer to a Class B task (JSON), returned to its retries",
    owner: 'runtime/agent/AnswerCache.ts',
  },
  yws: {
    prefix: '!yws!',
    key: 'sublevel yws: <name>!c, <name>!u!<seq hex12>',
    value: "a webspace's compacted Yjs state, and its updates since (binary)",
    owner: 'runtime/webspace/UpdateLog.ts',
  },
  ywsm: {
    prefix: '!ywsm!',
    key: 'sublevel ywsm: <name>',
    value: "a webspace's {epoch, through, seq} (JSON)",
    owner: 'runtime/webspace/UpdateLog.ts',
  },
  ext: {
    prefix: '!ext!',
    key: 'sublevel ext: n!, u!, m!, e!, s!, d!',
    value: 'recordings of external apps (apps the hub watches but does not host)',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extLastRun: {
    prefix: '!ext!n!',
    parent: 'ext',
    key: 'n!<app>',
    value: "the app's last run number (decimal text)",
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extRuns: {
    prefix: '!ext!u!',
    parent: 'ext',
    key: 'u!<app>!<run hex6>',
    value: 'a run (JSON)',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extMeta: {
    prefix: '!ext!m!',
    parent: 'ext',
    key: 'm!<path>',
    value: 'an external actor (JSON)',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extEvents: {
    prefix: '!ext!e!',
    parent: 'ext',
    key: 'e!<path>!<seq hex12>',
    value: 'an event line of its log (JSON)',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extSnapshots: {
    prefix: '!ext!s!',
    parent: 'ext',
    key: 's!<path>!<seq hex12>',
    value: 'a snapshot line of its log; seq 0 is the first state the hub saw',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
  extDefinitions: {
    prefix: '!ext!d!',
    parent: 'ext',
    key: 'd!<sha256 hex>',
    value: 'a machine definition {text, json}, shared by every actor that sent it',
    owner: 'runtime/inspector/ExternalStore.ts',
  },
} as const satisfies Record<string, KeySpace>

export type KeySpaceName = keyof typeof KEY_SPACES

/** The sublevels, with the encoding of their values. */
const SUBLEVELS = { 'agent-answers': 'json', yws: 'view', ywsm: 'json', ext: 'utf8' } as const
export type SublevelName = keyof typeof SUBLEVELS
type SublevelValue = { json: any; view: Uint8Array; utf8: string }

/** A sublevel of the hub's database, with the value encoding the layout gives it. */
export type Sublevel<V> = AbstractSublevel<any, any, string, V>

/** Opens one of the layout's sublevels in `store`. */
export function openSublevel<N extends SublevelName>(
  store: LevelStore,
  name: N,
): Sublevel<SublevelValue[(typeof SUBLEVELS)[N]]> {
  return store.db.sublevel(name, { keyEncoding: 'utf8', valueEncoding: SUBLEVELS[name] }) as any
}

/** The keys of one prefix, as an iterator range (`!` + 1 is `"`). */
export function range(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix.slice(0, -1)}"` }
}

/** Fixed-width hex: seqs and cursors sort in numeric order. */
export const hex12 = (n: number): string => n.toString(16).padStart(12, '0')
export const hex6 = (n: number): string => n.toString(16).padStart(6, '0')

/** Keys of the actor host's spaces (runtime/LevelStore.ts). */
export const actorKeys = {
  meta: (path: string) => `m!${path}`,
  /** A segment key; `segments(path)` is the prefix of all of an actor's. */
  segment: (path: string, seq: number) => `e!${path}!${hex12(seq)}`,
  segments: (path: string) => `e!${path}!`,
  rejected: (path: string, seq: number) => `r!${path}!${hex12(seq)}`,
  rejectedAll: (path: string) => `r!${path}!`,
  snapshot: (path: string, seq: number) => `s!${path}!${hex12(seq)}`,
  snapshots: (path: string) => `s!${path}!`,
  latest: (path: string) => `l!${path}`,
  clean: 'c!clean',
  image: (n: number) => `c!image!${hex6(n)}`,
  incident: (at: number, n: number) => `i!${hex12(at)}!${n.toString(36)}`,
  archive: (path: string) => `a!${path}`,
  finished: (at: number, path: string) => `t!${hex12(at)}!${path}`,
  /** The prefix of the archive's finish-time index. */
  finishes: 't!',
  archiveName: (name: string) => `n!${name}`,
  format: 'f!store',
  machineVersion: (id: string) => `h!${id}`,
}

/** Keys of the link's spaces (runtime/link/). */
export const linkKeys = {
  hubId: 'L!hubId',
  segment: (hub: string, stream: string, first: number) => `L!o!${hub}!${stream}!${hex12(first)}`,
  /** The prefix of a stream's segments; `segmentsOf(hub)` of every stream's of a hub. */
  segments: (hub: string, stream: string) => `L!o!${hub}!${stream}!`,
  segmentsOf: (hub: string) => `L!o!${hub}!`,
  acked: (hub: string, stream: string) => `L!m!${hub}!${stream}`,
  ackedOf: (hub: string) => `L!m!${hub}!`,
}

/** Keys of the root's spaces (runtime/root/RootService.ts). */
export const rootKeys = {
  inbox: (hub: string, stream: string) => `R!c!${hub}!${stream}`,
  inboxes: 'R!c!',
  applied: (hub: string, stream: string, cursor: number) => `R!a!${hub}!${stream}!${hex12(cursor)}`,
  appliedAll: (hub: string, stream: string) => `R!a!${hub}!${stream}!`,
  provenance: (hub: string, stream: string, n: number) => `R!p!${hub}!${stream}!${hex12(n)}`,
  provenanceAll: (hub: string, stream: string) => `R!p!${hub}!${stream}!`,
  /** `key` is `<hub>!<idempotency key>`. */
  answer: (key: string) => `R!k!${key}`,
  answers: 'R!k!',
  hub: (hub: string) => `R!h!${hub}`,
  hubs: 'R!h!',
}

/** Keys inside the `ext` sublevel (runtime/inspector/ExternalStore.ts). */
export const externalKeys = {
  lastRun: (app: string) => `n!${app}`,
  run: (app: string, run: number) => `u!${app}!${hex6(run)}`,
  runs: 'u!',
  meta: (path: string) => `m!${path}`,
  /** The prefix of the actors of one run (their paths start `app/run/`). */
  metasOfRun: (app: string, run: number) => `m!${app}/${run}/`,
  event: (path: string, seq: number) => `e!${path}!${hex12(seq)}`,
  events: (path: string) => `e!${path}!`,
  snapshot: (path: string, seq: number) => `s!${path}!${hex12(seq)}`,
  snapshots: (path: string) => `s!${path}!`,
  definition: (key: string) => `d!${key}`,
}

/** docs/storage.md: the layout as Markdown (generated; a test checks the file matches). */
export function keyLayoutDoc(): string {
  return generatedPage({
    title: 'Storage: the key layout of a hub',
    source: 'runtime/keyLayout.ts',
    test: 'test/runtime/keyLayout.test.ts',
    text: `
A hub keeps everything in one LevelDB (its \`--data\` folder). Each kind of data has its own key
space: a key prefix, or a sublevel (its keys sit under \`!name!\`). \`!\` ends every prefix and
sorts below every character a path, id or name may hold, so the keys of a prefix form one range;
no prefix is the start of another at the same level, so no range overlaps another. Numbers in
keys are fixed-width hex. A supervisor keeps its own actor spaces in \`<data>/supervisor\`.
LevelDB runs with a 16 MiB write buffer (\`WRITE_BUFFER_BYTES\` in runtime/LevelStore.ts, four times
its default: a hub writes many short-lived keys, and it compacts a quarter as often).

Timers and jobs have no space of their own: a timer is a journal record of its actor, a job is
a durable actor (\`job-<id>\`); a finished job retired past its retention moves from \`m!\` and
\`l!\` to the archive (\`a!\`, indexed by \`t!\` and \`n!\`), its journal staying where it is.`,
    head: ['space', 'prefix', 'inside', 'key', 'value', 'owner'],
    rows: (Object.entries(KEY_SPACES) as Array<[string, KeySpace]>).map(([name, s]) => [
      name,
      code(s.prefix),
      s.parent ?? '',
      code(s.key),
      s.value,
      s.owner,
    ]),
  })
}
