/**
 * The features `aether hub` runs, in order. Each issue's capability adds its feature here.
 */
import type { HubFeature } from './Hub.ts'
import { WebspaceFeature } from './webspace/webspaceFeature.ts'
import { ChannelFeature } from './channel/channelFeature.ts'
import { DirectLinkFeature } from './channel/directLinkFeature.ts'
import { SyncPageFeature } from './channel/syncPageFeature.ts'

export interface HubFeatureOptions {
  nats?: string
}

export function hubFeatures(_opts: HubFeatureOptions = {}): HubFeature[] {
  const webspaces = new WebspaceFeature()
  const channels = new ChannelFeature()
  return [webspaces, channels, new DirectLinkFeature(channels, webspaces), new SyncPageFeature()]
}
