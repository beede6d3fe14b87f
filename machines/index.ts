export { trafficLight } from './trafficLight.ts'
export { counter } from './counter.ts'
export { webspace, webspaceEvents, defaultWebspacePolicy } from './webspace.ts'
export type { WebspaceContext, WebspaceEvent, WebspaceInput, WebspacePolicy } from './webspace.ts'
