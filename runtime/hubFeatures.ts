/**
 * The features `aether hub` runs, in order. Each issue's capability adds its feature here.
 */
import type { HubFeature } from './Hub.ts'
import { hubLinkFeature } from './link/linkFeature.ts'
import { reliabilityFeature } from './reliability/Reliability.ts'

export interface HubFeatureOptions {
  nats?: string
}

export function hubFeatures(opts: HubFeatureOptions = {}): HubFeature[] {
  return [reliabilityFeature(), hubLinkFeature({ nats: opts.nats })]
}
