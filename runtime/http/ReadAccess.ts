/**
 * Who may read an actor's data on a hub that holds tenants' data.
 *
 * Features that own tenant data (the jobs feature, with tenants configured) add a `TenantPolicy`:
 * which tenant a request's token names, and which tenant owns an actor path. The actor read routes
 * (`GET /api/actors/...`, its `/log` and `/history`) and the inspector's sockets then show a
 * tenant's actors only to that tenant's token or the hub token. Actors no policy claims stay
 * readable by anyone who can reach the hub, as before; with no policy added nothing changes.
 */
import type { IncomingMessage } from 'node:http'
import type { HubServer } from './HubServer.ts'

/** What a tenant-aware feature tells the hub. */
export interface TenantPolicy {
  /** The tenant whose token the request presents, or undefined. */
  tenantOf(req: IncomingMessage, url: URL): string | undefined
  /**
   * The tenant that owns the actor at `path`, or undefined when it holds no tenant's data.
   * `stored` is its journal header when it is not hosted (a finished or archived actor).
   */
  ownerOf(path: string, stored?: { machine: string; input?: unknown }): string | undefined
}

/** A request's or socket's reading rights, worked out once. */
export interface Reader {
  /** Holds the hub token: reads everything. */
  admin: boolean
  /** Tenants whose token it holds. */
  tenants: ReadonlySet<string>
  /** Presents any token at all (a tenant's data without one is a 401, with a wrong one a 404). */
  identified: boolean
}

export class ReadAccess {
  private policies: TenantPolicy[] = []

  constructor(private server: HubServer) {}

  add(policy: TenantPolicy): void {
    this.policies.push(policy)
  }

  /** Whether any feature holds tenant data (else every check passes at once). */
  get active(): boolean {
    return this.policies.length > 0
  }

  reader(req: IncomingMessage, url: URL): Reader {
    const admin = this.server.hasToken(req, url)
    const tenants = new Set<string>()
    if (!admin)
      for (const p of this.policies) {
        const t = p.tenantOf(req, url)
        if (t !== undefined) tenants.add(t)
      }
    return { admin, tenants, identified: admin || tenants.size > 0 }
  }

  /** The tenant owning `path`, if any policy claims it. */
  ownerOf(path: string, stored?: { machine: string; input?: unknown }): string | undefined {
    for (const p of this.policies) {
      const t = p.ownerOf(path, stored)
      if (t !== undefined) return t
    }
    return undefined
  }

  mayRead(r: Reader, path: string, stored?: { machine: string; input?: unknown }): boolean {
    if (r.admin || !this.active) return true
    const owner = this.ownerOf(path, stored)
    return owner === undefined || r.tenants.has(owner)
  }
}
