// Slot images: the manifest's checksum catches partial copies and edits; install is idempotent.
import { spawnSync } from 'node:child_process'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync, unlinkSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { installSlot, sealSlot, SlotError, verifySlot } from '../../../runtime/supervisor/slotImage.ts'

const img = suite('slotImage - verify and install')
let dir = ''
img.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'aether-slot-'))
  writeFileSync(join(dir, 'entry.mjs'), 'console.log(1)\n')
  writeFileSync(join(dir, 'lib.js'), 'export {}\n')
  sealSlot(dir, { version: '1.2.3', buildId: 'b1', entry: 'entry.mjs' })
})
img.after.each(() => rmSync(dir, { recursive: true, force: true }))

const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    assert.instance(err, SlotError)
    return (err as SlotError).code
  }
  return 'OK'
}

img('slotImage - a sealed folder verifies; an edit, a missing file or a bad manifest does not', () => {
  assert.is(verifySlot(dir).version, '1.2.3')
  writeFileSync(join(dir, 'lib.js'), 'export const x = 1\n')
  assert.is(
    code(() => verifySlot(dir)),
    'CHECKSUM_MISMATCH',
  )
  sealSlot(dir, { version: '1.2.3', buildId: 'b1', entry: 'entry.mjs' })
  unlinkSync(join(dir, 'entry.mjs'))
  assert.is(
    code(() => verifySlot(dir)),
    'NO_ENTRY',
  )
  writeFileSync(
    join(dir, 'manifest.json'),
    '{"format":"aether.slot/1","version":"","buildId":"b","entry":"e","checksum":"x"}',
  )
  assert.is(
    code(() => verifySlot(dir)),
    'BAD_MANIFEST',
  )
  writeFileSync(join(dir, 'manifest.json'), 'nope')
  assert.is(
    code(() => verifySlot(dir)),
    'BAD_MANIFEST',
  )
  unlinkSync(join(dir, 'manifest.json'))
  assert.is(
    code(() => verifySlot(dir)),
    'NO_MANIFEST',
  )
})

img('slotImage - install copies, verifies and can run again', () => {
  const slots = mkdtempSync(join(tmpdir(), 'aether-slots-'))
  try {
    const slot = join(slots, 'B')
    assert.is(installSlot(dir, slot).version, '1.2.3')
    assert.is(installSlot(dir, slot).buildId, 'b1', 'a second install (after a crash) gives the same slot')
    assert.is(verifySlot(slot).checksum, verifySlot(dir).checksum)
    assert.is(readFileSync(join(slot, 'lib.js'), 'utf8'), 'export {}\n')
    assert.is(
      code(() => installSlot(join(slots, 'missing'), slot)),
      'NO_SOURCE',
    )
    writeFileSync(join(dir, 'lib.js'), 'tampered')
    assert.is(
      code(() => installSlot(dir, slot)),
      'CHECKSUM_MISMATCH',
    )
    assert.is(verifySlot(slot).version, '1.2.3', 'a refused install leaves the slot as it was')
  } finally {
    rmSync(slots, { recursive: true, force: true })
  }
})

img('slotImage - aether slot seal / verify, and aether supervisor usage errors', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/aether.mjs', ...args], { encoding: 'utf8' })
  unlinkSync(join(dir, 'manifest.json'))
  const sealed = cli('slot', 'seal', dir, '--version', '4.0.0', '--build-id', 'ci-7')
  assert.is(sealed.status, 0, sealed.stderr)
  assert.is(verifySlot(dir).version, '4.0.0')
  assert.is(cli('slot', 'verify', dir).status, 0)
  appendFileSync(join(dir, 'lib.js'), '// edit\n')
  const bad = cli('slot', 'verify', dir)
  assert.is(bad.status, 1)
  assert.match(bad.stderr, /does not match the manifest/)
  assert.is(cli('slot', 'seal', dir).status, 2)
  const sup = cli('supervisor', '--port', '0')
  assert.is(sup.status, 2)
  assert.match(sup.stderr, /--slots DIR is required/)
  assert.is(cli('supervisor', '--slots', dir, '--slot-ports', '1').status, 2)
  const none = cli('supervisor', '--slots', join(dir, 'nothing'), '--port', '0', '--data', join(dir, 'd'))
  assert.is(none.status, 1)
  assert.match(none.stderr, /holds a valid hub version/)
})

img.run()
