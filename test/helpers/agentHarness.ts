/**
 * Harness documents for agent tests and benchmarks, pointing at FakeProvider servers.
 */
import { writeFileSync } from 'node:fs'

export const TEST_KEY = 'sk-test-AETHER-SECRET-xyz'

/**
 * The benchmark harness: `primary` (OpenAI-compatible) and `backup` (Anthropic), each needing
 * TEST_KEY from its own variable. Some first choices fail on purpose (500, 429, a hang cut by its
 * timeout), so the run exercises fallbacks and breakers.
 */
export function benchHarness(primaryUrl: string, backupUrl: string): Record<string, unknown> {
  return {
    providers: {
      primary: { kind: 'openai', baseUrl: `${primaryUrl}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      backup: { kind: 'anthropic', baseUrl: backupUrl, apiKeyEnv: 'AETHER_TEST_BACKUP_KEY', maxTokens: 256 },
    },
    roles: {
      chat: [{ provider: 'primary', model: 'local-chat' }, { provider: 'backup', model: 'claude-chat' }],
      vision: [{ provider: 'primary', model: 'fail-vision' }, { provider: 'backup', model: 'claude-vision' }],
      planner: [{ provider: 'backup', model: 'rate-planner' }, { provider: 'primary', model: 'local-planner' }],
      browser: [{ provider: 'primary', model: 'hang-browser', timeoutMs: 200 }, { provider: 'backup', model: 'claude-browser' }],
    },
    breaker: { threshold: 3, cooldownMs: 60_000 },
    timeoutMs: 5_000,
  }
}

export const benchEnv = { AETHER_TEST_PRIMARY_KEY: TEST_KEY, AETHER_TEST_BACKUP_KEY: TEST_KEY }

export function writeHarness(file: string, doc: unknown): string {
  writeFileSync(file, JSON.stringify(doc, null, 2))
  return file
}
