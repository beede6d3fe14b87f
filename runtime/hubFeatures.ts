/**
 * The features `aether hub` runs, in order. Each issue's capability adds its feature here.
 */
import type { HubFeature } from './Hub.ts'
import { WebspaceFeature } from './webspace/webspaceFeature.ts'
import { ChannelFeature } from './channel/channelFeature.ts'

export interface HubFeatureOptions {
  nats?: string
}

export function hubFeatures(_opts: HubFeatureOptions = {}): HubFeature[] {
  return [new WebspaceFeature(), new ChannelFeature()]
}
