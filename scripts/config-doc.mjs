#!/usr/bin/env node
// Writes docs/config.md from the settings table in runtime/config.ts (test/runtime/config.test.ts
// fails while the two differ).
import { writeFileSync } from 'node:fs'
import { register } from 'tsx/esm/api'

register()
const { configDoc } = await import('../runtime/config.ts')
const file = new URL('../docs/config.md', import.meta.url)
writeFileSync(file, configDoc())
console.log(`wrote ${file.pathname}`)
