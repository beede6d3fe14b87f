import { writeFileSync } from 'node:fs'
import type { Command } from '../args.ts'
import { UsageError } from '../args.ts'
import { protocolJsonSchema } from '../../protocol/index.ts'

export const protocolCommand: Command = {
  name: 'protocol',
  summary: 'protocol tools: `aether protocol schema` prints the JSON Schema of every message',
  positionals: [
    { name: 'schema', help: 'print the JSON Schema (draft 2020-12) of the envelope and every message', required: true },
  ],
  flags: {
    out: { type: 'string', arg: 'FILE', help: 'write to FILE instead of stdout' },
  },
  async run({ flags, positionals }) {
    if (positionals[0] !== 'schema' || positionals.length !== 1)
      throw new UsageError(`unknown protocol subcommand "${positionals.join(' ')}"; try: aether protocol schema`)
    const text = JSON.stringify(protocolJsonSchema(), null, 2) + '\n'
    if (flags.out) {
      writeFileSync(String(flags.out), text)
      console.error(`wrote ${flags.out}`)
    } else process.stdout.write(text)
    return 0
  },
}
