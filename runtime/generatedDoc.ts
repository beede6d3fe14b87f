/**
 * The pages of docs/ that are generated from a table in the code (docs/config.md from
 * runtime/config.ts, docs/storage.md from runtime/keyLayout.ts), so a page cannot drift from what
 * the code does: `node scripts/docs.mjs` writes them and a test compares each with its table.
 */

/** Code in a cell (empty stays empty). */
export const code = (v: string | undefined): string => (v ? `\`${v}\`` : '')

/** A page: its title, the module and the test that keep it, its text, then the table. */
export function generatedPage(page: {
  title: string
  source: string
  test: string
  /** Paragraphs, separated by blank lines. */
  text: string
  head: string[]
  rows: string[][]
}): string {
  // Columns padded to their widest cell, as the formatter (Biome) lays out Markdown tables.
  const cells = [page.head, ...page.rows].map((r) => r.map((c) => c.replaceAll('|', '\\|')))
  const widths = page.head.map((_, i) => Math.max(3, ...cells.map((r) => r[i].length)))
  const row = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [
    `# ${page.title}`,
    '',
    `<!-- Generated from ${page.source} by \`node scripts/docs.mjs\`; ${page.test} checks it. -->`,
    '',
    page.text.trim(),
    '',
    row(cells[0]),
    row(widths.map((w) => '-'.repeat(w))),
    ...cells.slice(1).map(row),
    '',
  ].join('\n')
}
