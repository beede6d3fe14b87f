/**
 * Harness documents for agent tests and benchmarks, pointing at FakeProvider servers.
 */
import { writeFileSync } from 'node:fs'

export const TEST_KEY = 'sk-test-AETHER-SECRET-xyz'

/**
 * The benchmark harness: `primary` (OpenAI-compatible) and `backup` (Anthropic) are healthy;
 * three flaky providers (OpenAI-compatible, on the primary's server) are the first choices of
 * vision, planner and browser and fail in their own ways (500, 429, a hang cut by its timeout),
 * so the run exercises fallbacks and, after 3 failures each, open breakers that skip them
 * without a call.
 */
export function benchHarness(primaryUrl: string, backupUrl: string): Record<string, unknown> {
  return {
    providers: {
      primary: { kind: 'openai', baseUrl: `${primaryUrl}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      'flaky-500': { kind: 'openai', baseUrl: `${primaryUrl}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      'flaky-429': { kind: 'openai', baseUrl: `${primaryUrl}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      'flaky-hang': { kind: 'openai', baseUrl: `${primaryUrl}/v1`, apiKeyEnv: 'AETHER_TEST_PRIMARY_KEY' },
      backup: { kind: 'anthropic', baseUrl: backupUrl, apiKeyEnv: 'AETHER_TEST_BACKUP_KEY', maxTokens: 256 },
    },
    roles: {
      chat: [
        { provider: 'primary', model: 'local-chat' },
        { provider: 'backup', model: 'claude-chat' },
      ],
      vision: [
        { provider: 'flaky-500', model: 'fail-vision' },
        { provider: 'backup', model: 'claude-vision' },
      ],
      planner: [
        { provider: 'flaky-429', model: 'rate-planner' },
        { provider: 'backup', model: 'claude-planner' },
      ],
      browser: [
        { provider: 'flaky-hang', model: 'hang-browser', timeoutMs: 200 },
        { provider: 'primary', model: 'local-browser' },
      ],
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
