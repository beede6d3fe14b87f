/** The inspector page's entry point (bundled by inspector/build.mjs into dist/app.js). */
import { App } from './app.ts'

const app = new App()
// For the e2e tests and the benchmark: the model and what the page has rendered.
;(window as any).__inspector = app
