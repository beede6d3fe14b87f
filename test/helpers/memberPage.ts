/** Driving the `/member/sync` page (runtime/browser/syncMember.ts) from e2e tests. */
import type { Page } from 'playwright-core'

/**
 * Starts the page editing its webspace every 15 ms (`<WHO><k>` per edit, kept in `window.edits`);
 * member `A` also sends a command with each edit (counted in `window.cmds`).
 */
export function startEditing(p: Page, who: string): Promise<void> {
  return p.evaluate((who) => {
    const m = (window as any).aetherMember
    const w = window as any
    w.edits = []
    w.cmds = 0
    let k = 0
    w.editTimer = setInterval(() => {
      const id = `<${who}${k++}>`
      m.edit(id)
      w.edits.push(id)
      if (who === 'A') void m.command({ n: ++w.cmds })
    }, 15)
  }, who)
}

/** Stops what `startEditing` started. */
export function stopEditing(p: Page): Promise<void> {
  return p.evaluate(() => clearInterval((window as any).editTimer))
}
