/**
 * `aether inspect URL`: asks a running hub to attach to an XState v4 app that serves
 * `@xstate/inspect` (its server mode), so the app's services appear in the hub's inspector and are
 * recorded as replayable logs. The hub holds the connection (`POST /api/external/attach`); this
 * command returns once it is open.
 */
import { UsageError, type Command } from '../args.ts'
import { requestServer, serverFlag, serverUrl } from './remote.ts'

export const inspectCommand: Command = {
  name: 'inspect',
  summary: "watch an XState v4 app's @xstate/inspect server in a hub's inspector (recorded, replayable)",
  positionals: [{ name: 'URL', help: "the app's WebSocket, e.g. ws://127.0.0.1:8888", required: true }],
  flags: {
    hub: serverFlag('the hub that attaches and records'),
    token: {
      type: 'string',
      arg: 'T',
      help: 'the hub token (attaching records, so it needs the token)',
      required: true,
    },
    app: { type: 'string', arg: 'NAME', help: "the app's name in the inspector (default xstate-<port>)" },
    json: { type: 'boolean', help: "print the hub's answer as JSON" },
  },
  details: `
The app runs @xstate/inspect's server mode and interprets its machines with devTools on:
  import { inspect } from '@xstate/inspect/lib/server.js'
  inspect({ server: new WebSocketServer({ port: 8888 }) })
  interpret(machine, { devTools: true }).start()
Its services show in the hub's inspector under NAME/RUN/<service id>, read-only, while the app
runs; each is recorded, and GET /api/external/actors/<path>/log downloads a log that
\`aether replay LOG --machine MODULE --verify\` checks against the same v4 machine. Services started
before the hub attached are recorded from the state they were in.

exit codes:
  0  attached (the hub keeps the connection until the app closes it)
  1  the hub could not attach (the app is not reachable, a wrong token) or is not reachable
  2  usage error`,
  async run({ flags, positionals }) {
    const [url, extra] = positionals
    if (!url) throw new UsageError("missing URL (the app's WebSocket, e.g. ws://127.0.0.1:8888)")
    if (extra) throw new UsageError(`unexpected argument "${extra}"`)
    if (!/^wss?:\/\//.test(url)) throw new UsageError(`URL must be a WebSocket URL (ws:// or wss://), got "${url}"`)
    const hub = serverUrl(flags.hub, 'hub')
    const res = await requestServer(hub, '/api/external/attach', 'hub', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${flags.token}` },
      body: JSON.stringify(flags.app === undefined ? { url } : { url, app: flags.app }),
    })
    const body = (await res.json().catch(() => null)) as Record<string, unknown> | null
    if (!res.ok) {
      console.error(
        `aether inspect: the hub did not attach (${res.status}${body?.error ? ` ${body.error}` : ''}): ${body?.message ?? 'no reason given'}`,
      )
      return 1
    }
    if (flags.json) {
      console.log(JSON.stringify(body))
      return 0
    }
    console.log(`attached to ${url} as ${body!.app} run ${body!.run}`)
    console.log(`  inspector  ${hub.origin}/inspector (its services are under ${body!.prefix}/)`)
    console.log(`  runs       ${hub.origin}/api/external`)
    return 0
  },
}
