/**
 * The jobs page (`/jobs`) in Debian's Chromium: queue depth, running jobs, dead letters, and the
 * retry button requeueing a dead letter with the token.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { Hub } from '../../../runtime/Hub.ts'
import { jobsFeature } from '../../../runtime/jobs/jobsFeature.ts'
import { defineJobType } from '../../../runtime/jobs/jobTypes.ts'
import { jobMachinesFor } from '../../../runtime/jobs/machines.ts'
import { tempDir } from '../../helpers/jobs.ts'

const root = fileURLToPath(new URL('../../..', import.meta.url))

const Page = suite('jobsPage - dead letters with retry in a browser')

Page('the page lists a dead letter and its retry button requeues it', async () => {
  let fail = true
  const flaky = defineJobType('flaky', [
    {
      name: 'call',
      retry: { maxAttempts: 1 },
      run: async () => {
        if (fail) throw new Error('upstream 503')
        return 'ok'
      },
    },
  ])
  const tmp = tempDir()
  const hub = await Hub.start({ data: tmp.dir, token: 'page-token', machines: jobMachinesFor([flaky]) }, [
    jobsFeature({ types: [flaky] }),
  ])
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    // playwright-core manages the profile folder itself (it refuses --user-data-dir in launch())
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  try {
    const post = (path: string, body: unknown) =>
      fetch(hub.url + path, {
        method: 'POST',
        headers: { authorization: 'Bearer page-token' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<any>)
    const dead = await post('/api/jobs', { type: 'flaky', input: { n: 1 } })
    await post('/api/jobs', { type: 'sleep', input: { ms: 60_000 } })
    for (let i = 0; ; i++) {
      const j = await (await fetch(`${hub.url}/api/jobs/${dead.id}`)).json()
      if (j.status === 'FAILED') break
      if (i > 100) assert.unreachable('not dead-lettered')
      await new Promise((r) => setTimeout(r, 20))
    }
    const page = await browser.newPage()
    await page.goto(hub.url + '/jobs')
    await page.fill('#token', 'page-token')
    await page.dispatchEvent('#token', 'change')
    await page.waitForSelector('#dead tbody tr')
    const deadRow = await page.textContent('#dead tbody')
    assert.ok(
      deadRow!.includes(dead.id) && deadRow!.includes('upstream 503') && deadRow!.includes('running.call'),
      deadRow!,
    )
    assert.ok((await page.textContent('#running tbody'))!.includes('sleep'))
    assert.ok((await page.textContent('#queues tbody'))!.includes('default'))
    mkdirSync(join(root, 'test/.artifacts'), { recursive: true })
    await page.screenshot({ path: join(root, 'test/.artifacts/jobs-page.png'), fullPage: true })
    fail = false
    await page.click('#dead tbody button')
    for (let i = 0; ; i++) {
      const j = await (await fetch(`${hub.url}/api/jobs/${dead.id}`)).json()
      if (j.status === 'COMPLETED') break
      if (i > 200) assert.unreachable(`retry did not complete the job: ${JSON.stringify(j)}`)
      await new Promise((r) => setTimeout(r, 20))
    }
    await page.waitForFunction(() => document.querySelectorAll('#dead tbody tr').length === 0, undefined, {
      timeout: 10_000,
    })
  } finally {
    await browser.close()
    await hub.close()
    tmp.remove()
  }
})

Page.run()
