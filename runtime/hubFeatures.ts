/**
 * The features `aether hub` runs, in order. Each issue's capability adds its feature here.
 */
import type { HubFeature } from './Hub.ts'
import { jobsConfigFromEnv, jobsFeature } from './jobs/jobsFeature.ts'

export interface HubFeatureOptions {
  nats?: string
}

export function hubFeatures(_opts: HubFeatureOptions = {}): HubFeature[] {
  return [
    // jobs: AETHER_JOBS_CONFIG (JSON: tenants, triggers, schedules, visibilityMs, concurrency); steps over NATS with AETHER_JOBS_NATS=URL
    jobsFeature({ ...jobsConfigFromEnv(), ...(process.env.AETHER_JOBS_NATS ? { nats: process.env.AETHER_JOBS_NATS } : {}) }),
  ]
}
