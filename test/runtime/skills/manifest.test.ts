/** skill.json at the edge: each wrong field is named; the folder's checksum is stable and covers every file. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { checksumDir, parseManifest, readManifest, SkillError, skillFiles } from '../../../runtime/skills/manifest.ts'
import { checkWrites } from '../../../runtime/skills/ownership.ts'
import { writeSkill } from '../../helpers/skillFixture.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const SUM = `sha256:${'a'.repeat(64)}`
const ok = { name: 'greeter', version: '1.0.0', entry: 'index.ts', checksum: SUM, needs: { machines: ['greeter'] } }

function refused(raw: unknown, field: RegExp, code = 'BAD_MANIFEST'): void {
  try {
    parseManifest(raw)
  } catch (err) {
    assert.instance(err, SkillError)
    assert.is((err as SkillError).code, code)
    assert.match((err as Error).message, field)
    return
  }
  assert.unreachable(`accepted ${JSON.stringify(raw)}`)
}

const m = suite('skill manifest - validated at the edge')

m('a good manifest parses, with the needs filled in', () => {
  const p = parseManifest(ok)
  assert.equal(p.needs, { machines: ['greeter'], jobTypes: [], routes: [], yjs: [] })
  assert.is(p.entry, 'index.ts')
})

m('each wrong field is named', () => {
  refused(null, /field "\(root\)"/)
  refused([], /field "\(root\)"/)
  refused({ ...ok, name: 'Greeter' }, /field "name"/)
  refused({ ...ok, version: '1.0' }, /field "version"/)
  refused({ ...ok, entry: '../x.ts' }, /field "entry" must stay inside/)
  refused({ ...ok, entry: 'x.py' }, /field "entry"/)
  refused({ ...ok, checksum: 'md5:1' }, /field "checksum"/)
  refused({ ...ok, needs: { machines: 'greeter' } }, /field "needs.machines" must be an array/)
  refused({ ...ok, needs: { machines: ['a', 'a'] } }, /field "needs.machines" lists a name twice/)
  refused({ ...ok, needs: { yjs: ['desktop/x'] } }, /field "needs.yjs\[0\]"/)
  refused({ ...ok, needs: { routes: ['/api/x'] } }, /field "needs.routes\[0\]"/)
  refused({ ...ok, needs: { sockets: [] } }, /field "needs.sockets" is not a need/)
  refused({ ...ok, colour: 'red' }, /field "colour" is not a manifest field/)
  refused({ ...ok, entry: undefined }, /field "entry" is required/)
  refused({ ...ok, scenario: { skills: ['x'], theme: 1 } }, /field "scenario.theme"/)
  refused({ ...ok, scenario: { data: { 'Bad Key': 1 } } }, /field "scenario.data.Bad Key"/)
})

m('the checksum covers every file but skill.json, node_modules and dot-folders; it changes with content', () => {
  const dir = tmpDir('aether-manifest-')
  const skill = writeSkill(dir, {
    name: 'notes',
    files: { 'a/b.txt': 'one\n', '.git/HEAD': 'x', 'node_modules/x/y.js': '' },
  })
  assert.equal(skillFiles(skill), ['a/b.txt', 'package.json'])
  const before = checksumDir(skill)
  assert.is(readManifest(skill).checksum, before)
  writeFileSync(join(skill, 'skill.json'), JSON.stringify({ ...readManifest(skill), version: '9.9.9' }))
  assert.is(checksumDir(skill), before, 'skill.json is not covered')
  writeFileSync(join(skill, 'a/b.txt'), 'two\n')
  assert.is.not(checksumDir(skill), before)
  try {
    readManifest(join(dir, 'none'))
    assert.unreachable()
  } catch (err) {
    assert.is((err as SkillError).code, 'NO_MANIFEST')
  }
})

const o = suite('webspace ownership - a write outside the owner is refused')

o('a scenario writes ui and the data of its skills that own it; nothing else', () => {
  const owner = { kind: 'scenario' as const, name: 'kiosk', skills: [{ name: 'greeter', yjs: ['data/greeter'] }] }
  checkWrites(owner, [
    { root: 'ui', key: 'current_scenario', value: 'kiosk' },
    { root: 'data', key: 'greeter', value: {} },
  ])
  for (const [root, key, why] of [
    ['installed', 'notes', /installed items belong to the users/],
    ['registry', 'greeter', /registry belongs to the hub/],
    ['data', 'other', /data\/<skill> belongs to a skill/],
  ] as const) {
    try {
      checkWrites(owner, [{ root, key, value: null }])
      assert.unreachable(`${root}/${key} accepted`)
    } catch (err) {
      assert.is((err as SkillError).code, 'NOT_OWNER')
      assert.match((err as Error).message, why)
    }
  }
  const noData = { kind: 'scenario' as const, name: 'bare', skills: [{ name: 'greeter', yjs: [] }] }
  assert.throws(() => checkWrites(noData, [{ root: 'data', key: 'greeter', value: 1 }]), /may not write data\/greeter/)
  checkWrites({ kind: 'hub' }, [{ root: 'registry', key: 'greeter', value: 1 }])
  assert.throws(() => checkWrites({ kind: 'hub' }, [{ root: 'ui', key: 'x', value: 1 }]), /the hub may not write ui\/x/)
})

m.run()
o.run()
