/**
 * The features `aether hub` runs, in order. Each issue's capability adds its feature here.
 */
import type { HubFeature } from './Hub.ts'
import { hubLinkFeature } from './link/linkFeature.ts'
import type { TransportKind } from './link/Transport.ts'
import { reliabilityFeature } from './reliability/Reliability.ts'
import { agentFeature } from './agent/agentFeature.ts'
import { runtimeFeature } from './supervisor/runtimeFeature.ts'
import { inspectorFeature } from './inspector/InspectorServer.ts'
import { incidentFeature } from './incident/incidentFeature.ts'
import { rtcFeature } from './rtc/rtcFeature.ts'
import { mediaRouteFeature } from './rtc/mediaRouteFeature.ts'
import { type JobsConfig, jobsConfigFromFile, jobsFeature } from './jobs/jobsFeature.ts'
import { retentionWith } from './jobs/Retirement.ts'
import type { JobType } from './jobs/jobTypes.ts'
import { setting } from './config.ts'
import { WebspaceFeature } from './webspace/webspaceFeature.ts'
import { ChannelFeature } from './channel/channelFeature.ts'
import { PeerLinkFeature } from './channel/peerLinkFeature.ts'
import { SyncPageFeature } from './channel/syncPageFeature.ts'
import { RelayLinkFeature } from './channel/relayLinkFeature.ts'
import { tracingFeature } from './tracing/tracingFeature.ts'
import type { Tracing } from './tracing/Tracing.ts'
import { defaultSkillSources, SkillsFeature } from './skills/skillsFeature.ts'
import { MembersFeature } from './members/membersFeature.ts'

export interface HubFeatureOptions {
  nats?: string
  /** Where the link's NATS connections live (`--transport`; default in-process). */
  transport?: TransportKind
  /** Agent feature: harness file and Redis URL (else their settings, runtime/config.ts). */
  harness?: string
  redis?: string
  /** Job types of an app (`aether hub --app`), besides the built-in ones. */
  jobTypes?: JobType[]
  /** Retention of finished jobs (`--jobs-retain-age` in ms, `--jobs-retain-count`); else their settings. */
  jobsRetainAge?: number
  jobsRetainCount?: number
  /** The process's tracing (`startTracing`, runtime/tracing/service.ts), when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracing?: Tracing
}

/** The jobs-config file, with the retention settings over its `retention`. */
function jobsConfig(opts: HubFeatureOptions): JobsConfig {
  const config = jobsConfigFromFile()
  const retention = retentionWith(
    config.retention,
    opts.jobsRetainAge ?? setting('jobs-retain-age'),
    opts.jobsRetainCount ?? setting('jobs-retain-count'),
  )
  return retention === undefined ? config : { ...config, retention }
}

export function hubFeatures(opts: HubFeatureOptions = {}): HubFeature[] {
  const webspaces = new WebspaceFeature()
  const channels = new ChannelFeature()
  const jobsNats = setting('jobs-nats')
  const rtc = rtcFeature()
  return [
    // first: its service is there when the others install; closed last, it exports their last spans
    tracingFeature(opts.tracing),
    reliabilityFeature(),
    hubLinkFeature({ nats: opts.nats, ...(opts.transport ? { transport: opts.transport } : {}) }),
    // member nodes under their own supervisors, and rollouts over them (docs/members.md): after the link
    new MembersFeature(),
    agentFeature({ nats: opts.nats, redis: opts.redis, harness: opts.harness }),
    // jobs: the jobs-config file (tenants, triggers, schedules, visibilityMs, concurrency, retention),
    // jobs-retain-age / -count over its retention; steps over NATS with jobs-nats
    jobsFeature({
      ...jobsConfig(opts),
      ...(jobsNats ? { nats: jobsNats } : {}),
      ...(opts.jobTypes?.length ? { types: opts.jobTypes } : {}),
    }),
    runtimeFeature(),
    inspectorFeature(),
    incidentFeature(),
    rtc,
    mediaRouteFeature(),
    webspaces,
    channels,
    // the channels' direct path and webspace sync ride each member's peer session
    new PeerLinkFeature(rtc, channels, webspaces),
    new SyncPageFeature(),
    // members attached to the root reach the channels over NATS (needs --nats)
    new RelayLinkFeature(channels, webspaces),
    // skills and scenarios (docs/skills.md): loaded before recovery, after the job queue and webspaces
    new SkillsFeature(webspaces, { sources: defaultSkillSources() }),
  ]
}
