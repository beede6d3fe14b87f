/** Debian's Chromium through playwright-core, headless and offline; `close()` also reaps it. */
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  // playwright-core manages the profile directory itself (it refuses --user-data-dir here).
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, ...extraArgs] })
}
