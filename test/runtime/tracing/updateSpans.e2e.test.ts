/**
 * An update traced the way an operator runs it: `aether supervisor` (child process, exporting to a
 * collector of the test's own on 127.0.0.1) updates its hub from slot A (1.0.0) to 2.0.0; the
 * collector gets one `update` span and, as its children in the same trace, a span per phase the
 * transition went through.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { OtlpCollector } from '../../helpers/otlpCollector.ts'
import { buildVersion } from '../../helpers/slotFixture.ts'
import { freePort, reapRuntimes, startSupervisor, until } from '../../helpers/supervisorProcess.ts'

const t = suite('tracing - the phases of an update')

t('one update span, a child span per phase, exported by aether supervisor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aether-trace-sup-'))
  buildVersion(join(dir, 'slots', 'A'), '1.0.0')
  buildVersion(join(dir, 'v2'), '2.0.0')
  const collector = await OtlpCollector.start()
  const sup = await startSupervisor({
    slots: join(dir, 'slots'),
    data: join(dir, 'data'),
    port: await freePort(),
    slotPorts: [await freePort(), await freePort()],
    args: ['--countdown-ms', '100', '--min-interval-ms', '0'],
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, AETHER_OTEL_DELAY_MS: '50' },
  })
  try {
    const r = await sup.post('/api/supervisor/update', { source: join(dir, 'v2') })
    assert.is(r.status, 202, JSON.stringify(r.body))
    await until(
      async () => {
        const s = await sup.status()
        return s.transition.state === 'idle' && s.transition.attempt?.outcome ? s : null
      },
      40_000,
      'the update to resolve',
    )
    const spans = await collector.until((all) => all.some((s) => s.name === 'update'))
    const update = spans.find((s) => s.name === 'update')!
    assert.is(update.service, 'aether-supervisor')
    assert.is(update.parentSpanId, '')
    assert.is(update.attributes['aether.update.target'], 'B')
    const phases = spans.filter((s) => s.name.startsWith('update ') && s.parentSpanId === update.spanId)
    const names = phases.map((s) => s.name)
    for (const p of ['update preparing', 'update validating', 'update cutover', 'update verifying'])
      assert.ok(names.includes(p), `${p} in ${names.join(', ')}`)
    for (const s of phases) assert.is(s.traceId, update.traceId)
  } finally {
    await sup.stop()
    reapRuntimes(join(dir, 'slots'))
    await collector.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

t.run()
