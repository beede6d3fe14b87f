/** `/metrics` in the Prometheus text format (0.0.4): queue depth, jobs by status, step latency. */
import type { JobQueue } from './JobQueue.ts'

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

export function jobsMetrics(q: JobQueue): string {
  const out: string[] = []
  const now = q.clock.now()
  const depth = new Map<string, number>()
  for (const e of q.jobs.values()) {
    if (e.status !== 'PENDING' || e.runAt > now) continue
    const k = `queue="${esc(e.queue)}",priority="${e.priority}"`
    depth.set(k, (depth.get(k) ?? 0) + 1)
  }
  out.push(
    '# HELP aether_jobs_queue_depth Jobs ready to run, by queue and priority.',
    '# TYPE aether_jobs_queue_depth gauge',
  )
  if (!depth.size) out.push('aether_jobs_queue_depth{queue="default",priority="5"} 0')
  for (const [k, v] of depth) out.push(`aether_jobs_queue_depth{${k}} ${v}`)
  out.push('# HELP aether_jobs Jobs by status (FAILED = dead letters).', '# TYPE aether_jobs gauge')
  for (const [s, n] of Object.entries(q.countByStatus())) out.push(`aether_jobs{status="${s}"} ${n}`)
  const h = q.stepLatency
  out.push(
    '# HELP aether_jobs_step_duration_ms Step attempt duration in ms.',
    '# TYPE aether_jobs_step_duration_ms histogram',
  )
  let acc = 0
  h.buckets.forEach((b, i) => {
    acc += h.counts[i]
    out.push(`aether_jobs_step_duration_ms_bucket{le="${b}"} ${acc}`)
  })
  acc += h.counts[h.buckets.length]
  out.push(
    `aether_jobs_step_duration_ms_bucket{le="+Inf"} ${acc}`,
    `aether_jobs_step_duration_ms_sum ${h.sum}`,
    `aether_jobs_step_duration_ms_count ${h.count}`,
  )
  const counters: Array<[string, string, number]> = [
    ['aether_jobs_submitted_total', 'Jobs submitted since start.', q.stats.submitted],
    ['aether_jobs_completed_total', 'Jobs completed since start.', q.stats.completed],
    ['aether_jobs_dead_lettered_total', 'Jobs dead-lettered since start.', q.stats.failed],
    ['aether_jobs_lease_expired_total', 'Leases that ran out (the job went back to the queue).', q.stats.leaseExpired],
    ['aether_jobs_deliveries_total', 'Leases granted.', q.stats.deliveries],
  ]
  for (const [name, help, v] of counters) out.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${v}`)
  return out.join('\n') + '\n'
}
