#!/usr/bin/env node
// Writes the generated docs from their tables: docs/config.md (runtime/config.ts) and
// docs/storage.md (runtime/keyLayout.ts). Tests fail while a file and its table differ.
import { writeFileSync } from 'node:fs'
import { register } from 'tsx/esm/api'

register()
const { configDoc } = await import('../runtime/config.ts')
const { keyLayoutDoc } = await import('../runtime/keyLayout.ts')
for (const [name, text] of [
  ['config.md', configDoc()],
  ['storage.md', keyLayoutDoc()],
]) {
  const file = new URL(`../docs/${name}`, import.meta.url)
  writeFileSync(file, text)
  console.log(`wrote ${file.pathname}`)
}
