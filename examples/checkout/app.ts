/**
 * The checkout example as an app: `npx aether hub --app examples/checkout/app.ts`, then create a
 * checkout with `POST /api/actors {"path":"order-1","machine":"checkout","input":{"customer":"ada"}}`.
 */
import { defineApp } from 'aether'
import { checkout } from './checkout.ts'

export default defineApp({ name: 'checkout example', machines: { checkout } })
