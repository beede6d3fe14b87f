// Spawns `node ARGS` (nice 19) in CWD and prints its CPU (user+sys, s) at the first output line matching $READY (default `http://`), then kills it. DATA in ARGS becomes a fresh temporary folder.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
const [cwd, ...args] = process.argv.slice(2)
const data = mkdtempSync(join(tmpdir(), 'cispeed-'))
const t0 = Date.now()
const c = spawn('nice', ['-n', '19', process.execPath, ...args.map((a) => a.replace('DATA', data))], {
  cwd,
  stdio: ['ignore', 'pipe', 'pipe'],
  env: process.env,
})
let out = ''
const done = (why) => {
  // nice execs node, so the pid is node's
  const st = readFileSync(`/proc/${c.pid}/stat`, 'utf8').split(') ')[1].split(' ')
  const cpu = (Number(st[11]) + Number(st[12])) / 100
  console.log(`${why} cpu=${cpu.toFixed(2)} wall=${Date.now() - t0}`)
  c.kill('SIGKILL')
}
const on = (d) => {
  out += d
  if (new RegExp(process.env.READY ?? 'http://').test(out)) {
    c.stdout.off('data', on)
    done('url')
  }
}
c.stdout.on('data', on)
c.stderr.on('data', (d) => (out += d))
c.on('exit', (code) => {
  if (!new RegExp(process.env.READY ?? 'http://').test(out)) console.log('exit', code, out.slice(-500))
})
