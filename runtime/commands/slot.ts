import { resolve } from 'node:path'
import { UsageError, type Command } from '../args.ts'
import { sealSlot, verifySlot } from '../supervisor/slotImage.ts'

export const slotCommand: Command = {
  name: 'slot',
  summary: 'seal or verify a slot image (a hub version the supervisor can install)',
  usage: 'aether slot seal DIR --version V --build-id B [--entry entry.mjs] | aether slot verify DIR',
  positionals: [
    { name: 'ACTION', help: 'seal (write manifest.json with the checksum of the folder) or verify', required: true },
    { name: 'DIR', help: 'the version folder', required: true },
  ],
  flags: {
    version: { type: 'string', arg: 'V', help: 'version to record (seal)' },
    'build-id': { type: 'string', arg: 'B', help: 'build id to record (seal)' },
    entry: { type: 'string', arg: 'FILE', help: 'entry script inside the folder (seal)', default: 'entry.mjs' },
  },
  async run({ flags, positionals }) {
    const [action, dir, extra] = positionals
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    if (!dir) throw new UsageError('missing DIR')
    if (action === 'verify') {
      const m = verifySlot(resolve(dir))
      console.log(`ok: ${dir} is ${m.version} (build ${m.buildId}), ${m.checksum}`)
      return 0
    }
    if (action !== 'seal') throw new UsageError(`ACTION must be seal or verify, got "${action ?? ''}"`)
    if (typeof flags.version !== 'string' || !flags.version) throw new UsageError('seal needs --version V')
    if (typeof flags['build-id'] !== 'string' || !flags['build-id']) throw new UsageError('seal needs --build-id B')
    const m = sealSlot(resolve(dir), { version: flags.version, buildId: flags['build-id'], entry: String(flags.entry) })
    verifySlot(resolve(dir))
    console.log(`sealed ${dir}: ${m.version} (build ${m.buildId}), ${m.checksum}`)
    return 0
  },
}
