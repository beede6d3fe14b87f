/** Reads a file as lines, fast, in chunks (readline is several times slower on big logs). */
import { createReadStream } from 'node:fs'

export async function* readLines(file: string, onBytes?: (n: number) => void): AsyncGenerator<string> {
  let rest = ''
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    onBytes?.(Buffer.byteLength(chunk as string))
    const text = rest + (chunk as string)
    let start = 0
    for (;;) {
      const nl = text.indexOf('\n', start)
      if (nl < 0) break
      yield text.slice(start, nl)
      start = nl + 1
    }
    rest = text.slice(start)
  }
  if (rest.length) yield rest
}

/** A one-line progress bar on a TTY (stderr); silent otherwise. */
export class Progress {
  private last = 0
  private readonly tty = !!process.stderr.isTTY
  constructor(
    private label: string,
    private total: number,
  ) {}
  update(done: number, extra = ''): void {
    if (!this.tty) return
    const now = Date.now()
    if (now - this.last < 100) return
    this.last = now
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 0
    const width = 30
    const bar = '#'.repeat(Math.round(frac * width)).padEnd(width, '.')
    process.stderr.write(`\r${this.label} [${bar}] ${(frac * 100).toFixed(0).padStart(3)}% ${extra}`)
  }
  end(): void {
    if (this.tty) process.stderr.write('\r\x1b[K')
  }
}
