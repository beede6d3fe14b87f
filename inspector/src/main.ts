/** The inspector page's entry point (bundled by inspector/build.mjs into dist/app.js). */
import { App } from './app.ts'
import { BundleView } from './bundleView.ts'
import { installRootLink } from './rootLink.ts'

const app = new App()
// For the e2e tests and the benchmark: the model and what the page has rendered.
;(window as any).__inspector = app
// Incident bundles: every node's actors on one timeline (bundleView.ts).
const bundles = new BundleView(app)
app.onBundle = (name, text) => void bundles.open(name, text)
;(window as any).__bundles = bundles
// The hub's root, when it knows its URL (rootLink.ts).
void installRootLink()
