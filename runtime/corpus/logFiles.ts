/**
 * Which files a corpus command reads: `aether replay DIR|GLOB|BUNDLE|LOG...` and `aether coverage`.
 *
 * - a folder: every `*.log` and `*.jsonl` file under it, recursively (an unpacked incident bundle
 *   is a folder of logs);
 * - a glob: `*` (within one path segment), `**` (any number of segments) and `?`, matched against
 *   paths relative to the glob's fixed leading folder (the shell expands unquoted globs itself;
 *   a quoted one is expanded here, so it works the same on every shell);
 * - a file: itself.
 *
 * Files are returned sorted, each once, so runs and reports are reproducible.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, relative, resolve, sep } from 'node:path'
import { UsageError } from '../args.ts'

const LOG_EXT = /\.(log|jsonl)$/

/** True when `arg` holds a glob character. */
export const isGlob = (arg: string): boolean => /[*?[]/.test(arg)

/** The log files named by `args` (folders, globs, files); a UsageError names an argument that matches nothing. */
export function logFiles(args: string[]): string[] {
  const out = new Set<string>()
  for (const arg of args) {
    if (isGlob(arg)) {
      const hits = expandGlob(arg)
      if (!hits.length) throw new UsageError(`${arg} matches no file`)
      for (const f of hits) out.add(f)
      continue
    }
    if (!existsSync(arg)) throw new UsageError(`no such log file or folder ${arg}`)
    if (statSync(arg).isDirectory()) {
      const hits = walk(resolve(arg)).filter((f) => LOG_EXT.test(f))
      if (!hits.length) throw new UsageError(`${arg} holds no log (*.log or *.jsonl files)`)
      for (const f of hits) out.add(f)
    } else out.add(resolve(arg))
  }
  return [...out].sort()
}

function walk(dir: string): string[] {
  const out: string[] = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...walk(p))
    else if (e.isFile()) out.push(p)
  }
  return out
}

/** Expands a glob against the file system (see the file's header for the syntax). */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split(/[/\\]/)
  const fixed: string[] = []
  while (parts.length > 1 && !isGlob(parts[0])) fixed.push(parts.shift()!)
  const base = resolve(fixed.length ? fixed.join(sep) || sep : '.')
  if (!existsSync(base) || !statSync(base).isDirectory()) return []
  const re = globRegExp(parts.join('/'))
  return walk(base)
    .filter((f) => re.test(relative(base, f).split(sep).join('/')))
    .sort()
}

/** A glob (with `/` separators) as an anchored regular expression. */
export function globRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches zero or more folders; a trailing `**` anything
      if (glob[i + 2] === '/') {
        re += '(?:.*/)?'
        i += 2
      } else {
        re += '.*'
        i += 1
      }
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}
