/**
 * An OTLP/HTTP trace receiver on 127.0.0.1 for tests: takes `POST /v1/traces` in JSON (what
 * @opentelemetry/exporter-trace-otlp-http sends), keeps every raw body (tests scan them for
 * secrets) and the spans flattened with their service name.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CollectedSpan {
  service: string
  traceId: string
  spanId: string
  parentSpanId: string
  name: string
  kind: number
  attributes: Record<string, unknown>
  status?: { code?: number; message?: string }
}

/** OTLP JSON AnyValue -> a plain value. */
function anyValue(v: any): unknown {
  if (!v || typeof v !== 'object') return v
  if ('stringValue' in v) return v.stringValue
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return v.doubleValue
  if ('boolValue' in v) return v.boolValue
  if ('arrayValue' in v) return (v.arrayValue.values ?? []).map(anyValue)
  return v
}

const attrs = (list: any[] | undefined) => Object.fromEntries((list ?? []).map((a) => [a.key, anyValue(a.value)]))

export class OtlpCollector {
  readonly spans: CollectedSpan[] = []
  readonly bodies: string[] = []
  /** Request headers of each export (the exporter's own headers, e.g. a collector key). */
  readonly headers: Array<Record<string, unknown>> = []
  private waiters = new Set<() => void>()
  private constructor(private server: Server) {}

  get endpoint(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  static async start(): Promise<OtlpCollector> {
    let c!: OtlpCollector
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (d: Buffer) => chunks.push(d))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end()
          return
        }
        c.bodies.push(body)
        c.headers.push({ ...req.headers })
        try {
          c.add(JSON.parse(body))
        } catch {
          res.writeHead(400).end()
          return
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      })
    })
    c = new OtlpCollector(server)
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    return c
  }

  private add(doc: any): void {
    for (const rs of doc.resourceSpans ?? []) {
      const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '')
      for (const ss of rs.scopeSpans ?? [])
        for (const s of ss.spans ?? [])
          this.spans.push({
            service,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            kind: s.kind,
            attributes: attrs(s.attributes),
            status: s.status,
          })
    }
    for (const w of this.waiters) w()
  }

  /** Resolves with the spans once `pred` holds of them (rejects after `timeoutMs`). */
  async until(pred: (spans: CollectedSpan[]) => boolean, timeoutMs = 10_000): Promise<CollectedSpan[]> {
    if (pred(this.spans)) return this.spans
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred(this.spans)) return
        clearTimeout(t)
        this.waiters.delete(check)
        resolve(this.spans)
      }
      const t = setTimeout(() => {
        this.waiters.delete(check)
        reject(
          new Error(
            `the collector did not get the spans within ${timeoutMs} ms; it has: ${JSON.stringify(this.spans)}`,
          ),
        )
      }, timeoutMs)
      this.waiters.add(check)
    })
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()))
  }
}
