export { trafficLight } from './trafficLight.ts'
export { counter } from './counter.ts'
export { updateTransition } from './updateTransition.ts'
