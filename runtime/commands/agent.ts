import { UsageError, type Command } from '../args.ts'
import { setting } from '../config.ts'
import { BENCH_TASKS, formatBench, runBench } from '../agent/benchTasks.ts'
import { loadHarness } from '../agent/harness.ts'
import { Secrets } from '../agent/redact.ts'

const HELP_TAIL = `
The harness file (JSON) maps roles to an ordered list of {provider, model}; the role router falls
back along the list on error, timeout or 429, and skips providers whose circuit breaker is open:
  {
    "providers": {
      "local":  {"kind": "openai", "baseUrl": "http://127.0.0.1:4000/v1", "apiKeyEnv": "LITELLM_KEY"},
      "claude": {"kind": "anthropic", "baseUrl": "https://api.anthropic.com", "apiKeyEnv": "ANTHROPIC_API_KEY"}
    },
    "roles": {
      "chat":    [{"provider": "local", "model": "llama-3.1-8b"}, {"provider": "claude", "model": "claude-sonnet-4-5"}],
      "vision":  [{"provider": "claude", "model": "claude-sonnet-4-5"}],
      "planner": [{"provider": "claude", "model": "claude-sonnet-4-5"}],
      "browser": [{"provider": "local", "model": "qwen2.5-7b"}]
    },
    "breaker": {"threshold": 3, "cooldownMs": 30000},
    "timeoutMs": 60000
  }
Keys are read from the environment variables named by "apiKeyEnv" and never written anywhere.
"openai" covers OpenAI-compatible servers (OpenAI, LiteLLM, vLLM, llama.cpp, Ollama /v1).
The hub serves agent sessions at /ws/agent: aether hub --harness FILE [--redis URL] [--nats URL].`

export const agentCommand: Command = {
  name: 'agent',
  summary: 'model role harness: check a harness file, run the 20-task benchmark',
  usage: 'aether agent bench|check [--harness FILE] [--json]',
  details: HELP_TAIL,
  positionals: [
    {
      name: 'bench | check',
      help: `bench: run the ${BENCH_TASKS.length} scripted tasks across roles and report success, fallbacks and latency; check: validate the harness file and its key variables`,
      required: true,
    },
  ],
  flags: {
    harness: { type: 'string', arg: 'FILE', help: 'the harness file (default: AETHER_HARNESS, else ./harness.json)' },
    json: { type: 'boolean', help: 'print the result as one JSON object' },
  },
  async run({ flags, positionals }) {
    const [sub, extra] = positionals
    if (sub !== 'bench' && sub !== 'check')
      throw new UsageError(
        sub ? `unknown subcommand "${sub}" (bench or check)` : 'missing subcommand: aether agent bench|check',
      )
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    const file = setting('harness', flags.harness) ?? 'harness.json'
    let harness: ReturnType<typeof loadHarness>
    try {
      harness = loadHarness(file)
    } catch (err) {
      // A bad harness file is bad input: exit 2 with the field named.
      throw new UsageError((err as Error).message)
    }
    const secrets = Secrets.fromEnv(harness)
    if (sub === 'check') {
      const out = {
        file,
        providers: Object.fromEntries(
          Object.entries(harness.providers).map(([n, p]) => [
            n,
            { kind: p.kind, baseUrl: p.baseUrl, apiKeyEnv: p.apiKeyEnv ?? null, keySet: !!secrets.key(n) },
          ]),
        ),
        roles: Object.fromEntries(
          Object.entries(harness.roles).map(([r, l]) => [r, l.map((e) => `${e.provider}/${e.model}`)]),
        ),
        missingKeys: secrets.missing,
      }
      if (flags.json) console.log(JSON.stringify(out))
      else {
        console.log(`${file}: valid`)
        for (const [r, l] of Object.entries(out.roles)) console.log(`  ${r.padEnd(10)} ${l.join(' -> ')}`)
        for (const m of secrets.missing) console.log(`  warning: ${m.env} (key of provider ${m.provider}) is not set`)
      }
      return secrets.missing.length ? 1 : 0
    }
    const summary = await runBench({ harness, secrets, log: flags.json ? undefined : (l) => console.error(l) })
    if (flags.json) console.log(JSON.stringify(secrets.redactJson(summary)))
    else console.log(secrets.redact(formatBench(summary)))
    return summary.passed === summary.tasks ? 0 : 1
  },
}
