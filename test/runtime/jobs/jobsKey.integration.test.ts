/**
 * jobs - an acknowledged key is durable: a retry of `POST /api/jobs` with the same key, sent while the
 * first submission is being written, is answered only once the job is journaled. Each round kills the
 * hub (kill -9) right after the retry's answer; the job the answer names must exist after a restart.
 */
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HubProcess } from '../../helpers/hubProcess.ts'
import { tmpDir } from '../../helpers/tmp.ts'

const ROUNDS = 8

/** Two connections opened first, then both requests written in the same tick: they arrive together. */
async function together(url: string, body: string): Promise<[Promise<string>, Promise<string>]> {
  const { hostname, port } = new URL(url)
  const open = () =>
    new Promise<Socket>((resolve, reject) => {
      const s = connect({ host: hostname, port: Number(port), noDelay: true }, () => resolve(s))
      s.once('error', reject)
    })
  const sockets = await Promise.all([open(), open()])
  const request =
    `POST /api/jobs HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer T\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  const answers = sockets.map(
    (s) =>
      new Promise<string>((resolve) => {
        let text = ''
        s.on('data', (d) => (text += d))
        s.on('error', () => {}) // the hub is killed under it
        s.on('close', () => resolve(text))
      }),
  ) as [Promise<string>, Promise<string>]
  for (const s of sockets) s.write(request)
  return answers
}
const keys = suite('jobs - a key is not answered before its job is durable (kill -9)')

keys(
  `${ROUNDS} rounds: first submission and its retry back to back, kill -9 after the retry's answer, the job exists`,
  async () => {
    const data = join(tmpDir('aether-jobkey-'), 'data')
    const post = (url: string, key: string) =>
      fetch(`${url}/api/jobs`, {
        method: 'POST',
        headers: { authorization: 'Bearer T' },
        body: JSON.stringify({ type: 'sleep', input: { ms: 60_000 }, key }),
      })
    const answered: string[] = []
    let hub = await HubProcess.start(['--data', data, '--token', 'T'])
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const key = `order-${round}`
        const [first, retry] = await together(hub.url, JSON.stringify({ type: 'sleep', input: { ms: 60_000 }, key }))
        // whichever is answered first is the retry's answer a client would act on
        const answer = await Promise.race([first, retry])
        const status = Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1])
        assert.ok(status === 200 || status === 201, `round ${round}: ${answer}`)
        const { id } = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { id: string }
        await hub.kill('SIGKILL')
        await Promise.all([first, retry])
        answered.push(id)
        hub = await HubProcess.start(['--data', data, '--token', 'T'])
        const after = await fetch(`${hub.url}/api/jobs/${id}`)
        assert.is(after.status, 200, `round ${round}: the acknowledged job ${id} is gone after kill -9`)
        const again = (await (await post(hub.url, key)).json()) as { id: string }
        assert.is(again.id, id, `round ${round}: the key still names the same job`)
      }
      const list = (await (await fetch(`${hub.url}/api/jobs?limit=100`)).json()) as { jobs: { id: string }[] }
      const ids = new Set(list.jobs.map((j) => j.id))
      for (const id of answered) assert.ok(ids.has(id), `${id} listed`)
      assert.is(ids.size, ROUNDS, 'one job per key, none duplicated')
    } finally {
      await hub.kill('SIGKILL')
    }
  },
)

keys.run()
