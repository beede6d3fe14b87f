export { trafficLight } from './trafficLight.ts'
export { counter } from './counter.ts'
