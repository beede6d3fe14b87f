// Worker-thread entry for the hub's data plane: prebuilt or through tsx, as in bin/aether.mjs.
import { runEntry } from '../prebuilt.mjs'

await runEntry('dataPlaneWorker', new URL('./dataPlane.worker.ts', import.meta.url).href)
