// Worker-thread entry for the hub's data plane: TypeScript loads through tsx, as in bin/aether.mjs.
import { register } from 'tsx/esm/api'
register()
await import('./dataPlane.worker.ts')
