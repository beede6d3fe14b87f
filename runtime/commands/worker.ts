import type { Command } from '../args.ts'
import { UsageError } from '../args.ts'
import { setting } from '../config.ts'
import { importUserModule } from '../loadMachine.ts'
import { builtinJobTypes, type JobType } from '../jobs/jobTypes.ts'
import { guardProcess, serve, SERVE_EXIT_CODES } from '../processLifecycle.ts'
import { startTracing, thenExport } from '../tracing/service.ts'

/** Job types exported by a module: `export const jobTypes = [...]`, a default array, or single JobType exports. */
async function loadJobTypes(modulePath: string): Promise<JobType[]> {
  const { file, mod } = (await importUserModule(modulePath, 'module')) as { file: string; mod: Record<string, any> }
  const isType = (v: any): v is JobType => !!v && typeof v.name === 'string' && v.steps instanceof Map && !!v.machine
  const list = Array.isArray(mod.jobTypes)
    ? mod.jobTypes
    : Array.isArray(mod.default)
      ? mod.default
      : Object.values(mod).filter(isType)
  if (!list.length || !list.every(isType))
    throw new UsageError(`--module: ${file} exports no job types (export const jobTypes = [defineJobType(...), ...])`)
  return list
}

export const workerCommand: Command = {
  name: 'worker',
  summary: "run job steps from a hub's queue over NATS JetStream (start the hub with AETHER_JOBS_NATS=URL)",
  usage: 'aether worker --nats URL [--module FILE] [--concurrency N] [--stream NAME]',
  details: SERVE_EXIT_CODES,
  flags: {
    nats: { type: 'string', arg: 'URL', help: 'NATS server with JetStream (or NATS_URL)' },
    module: {
      type: 'string',
      arg: 'FILE',
      help: 'module exporting job types (`export const jobTypes = [...]`); echo and sleep are built in',
    },
    concurrency: { type: 'number', arg: 'N', help: 'step attempts run at once', default: 64 },
    stream: { type: 'string', arg: 'NAME', help: 'JetStream work-queue stream', default: 'AETHER_JOBS' },
    id: { type: 'string', arg: 'ID', help: 'worker name in results and logs (default worker-<pid>)' },
  },
  async run({ flags }) {
    const guard = guardProcess({ name: 'worker' })
    const url = setting('nats', flags.nats)
    if (!url) throw new UsageError('--nats URL is required (or set NATS_URL)')
    const concurrency = Number(flags.concurrency)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 10_000)
      throw new UsageError('--concurrency must be an integer 1..10000')
    const types = [...builtinJobTypes, ...(flags.module ? await loadJobTypes(String(flags.module)) : [])]
    const { NatsJobWorker } = await import('../jobs/natsJobs.ts')
    // spans of the steps run here, when OTEL_EXPORTER_OTLP_ENDPOINT is set (docs/tracing.md)
    const tracing = await startTracing({ service: 'aether-worker' })
    const w = new NatsJobWorker({
      tracing,
      url,
      types,
      concurrency,
      stream: String(flags.stream),
      id: flags.id as string | undefined,
      log: (l) => console.error(`aether worker: ${l}`),
    })
    console.error(`aether worker: connecting to ${url} (waits for the server if it is down)`)
    await w.start()
    console.log(
      `aether worker ${w.id} on ${url} stream ${flags.stream}: ${types.map((t) => t.name).join(', ')} (concurrency ${concurrency})`,
    )
    return serve({ name: 'worker', guard, close: thenExport(() => w.close(), tracing), verb: 'stopping' })
  },
}
