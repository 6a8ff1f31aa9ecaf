// Who may stream, as which tenant, and how many at once. A stream connection authenticates with
//   - an API key (SLUICE_AUTH=true; scope `query`) on the upgrade request: Authorization (Bearer,
//     Basic, ApiKey) or X-API-Key, as at every other door. Checked before the upgrade, so a bad key
//     is an HTTP 401 and a wrong scope or tenant a 403. A key of several tenants chooses one with
//     X-Scope-OrgID (or x-sluice-tenant, or ?tenant=); a key of every tenant that names none sees
//     every tenant (operators).
//   - a stream token (auth.ts), for browsers, which cannot set headers on a WebSocket: minted for a
//     key's tenant by POST /v1/tokens, presented as ?token= or in a {"type":"auth"} message.
// Without either (SLUICE_AUTH=false, WS_AUTH=false) a connection is bound to the tenant it names
// in the same ways as a key of several tenants, as every door takes the tenant named then; one
// that names none sees every tenant.
// A connection holds a slot of its tenant (ws_max_connections in SLUICE_TENANTS_FILE) from the
// moment its tenant is known until it closes; past the limit it is closed with 4029. Browsers never
// see the HTTP status of a refused upgrade, only close codes: hence a close, not a 429.
import type { FastifyRequest } from 'fastify'
import { LOKI_TENANT_HEADERS, Gauges, presentedKey, requestedTenant } from '@sluice/auth'
import type { Security } from '@sluice/auth'
import { isSluiceError } from '@sluice/core'
import { mintToken, verifyToken } from './auth.js'


/** The tenant of an API key on an upgrade request; `tenant` undefined: a key of every tenant that named none. */
export interface KeyAccess {
  keyId: string
  tenant: string | undefined
}

export class StreamAccess {
  readonly #security: Security
  readonly #secret: string | undefined
  readonly #slots = new Gauges()

  constructor(security: Security, secret: string | undefined) {
    this.#security = security
    this.#secret = secret
  }

  /** Every connection must authenticate (WS_AUTH or SLUICE_AUTH). */
  get required(): boolean {
    return this.#secret !== undefined
  }

  /**
   * The key an upgrade request presents and its tenant; undefined when it presents none or keys
   * are off. Throws UNAUTHORIZED (bad key) or FORBIDDEN (no query scope, another tenant), audited.
   */
  keyOf(req: Pick<FastifyRequest, 'headers' | 'method' | 'url' | 'socket'> & { query: { tenant?: string | undefined } }): KeyAccess | undefined {
    const { auth, audit } = this.#security
    if (!auth.enabled) return undefined
    try {
      if (presentedKey(req.headers) === undefined) return undefined
      const principal = auth.authenticate(req.headers, 'query')!
      const tenant = auth.tenant(principal, requestedTenant(req, LOKI_TENANT_HEADERS, req.query.tenant), undefined)
      return { keyId: principal.keyId, tenant }
    } catch (err) {
      audit.record({
        action: 'auth.refused',
        outcome: 'refused',
        tenant: '',
        keyId: '',
        target: `${req.method} ${req.url.split('?')[0]}`,
        reason: isSluiceError(err) ? err.message : 'refused',
        remote: req.socket?.remoteAddress ?? '',
      })
      throw err
    }
  }

  /**
   * The tenant an upgrade request names, when nothing authenticates (no keys, no tokens): the
   * stream is bound to it. Undefined when it names none, or when a key or token decides instead.
   * Throws VALIDATION_FAILED for a header naming several tenants or no valid one.
   */
  named(req: Pick<FastifyRequest, 'headers'> & { query: { tenant?: string | undefined } }): { tenant: string } | undefined {
    if (this.required || this.#security.auth.enabled) return undefined
    const tenant = requestedTenant(req, LOKI_TENANT_HEADERS, req.query.tenant)
    return tenant === undefined ? undefined : { tenant }
  }

  /** The tenant of a stream token, or why it is refused. */
  verify(token: string): { ok: true; tenant: string } | { ok: false; error: string } {
    if (this.#secret === undefined) return { ok: false, error: 'stream tokens are not enabled on this server (WS_AUTH_SECRET)' }
    const v = verifyToken(this.#secret, token)
    return v.ok ? { ok: true, tenant: v.payload.tenant } : v
  }

  /** A token for `tenant` valid `ttlSeconds`, and when it expires. */
  mint(tenant: string, ttlSeconds: number, nowMs = Date.now()): { token: string; expiresAt: Date } {
    if (this.#secret === undefined) throw new Error('no WS_AUTH_SECRET to sign stream tokens with')
    return { token: mintToken(this.#secret, tenant, ttlSeconds, nowMs), expiresAt: new Date((Math.floor(nowMs / 1000) + ttlSeconds) * 1000) }
  }

  /** The tenant's connection limit (0: none). */
  limit(tenant: string): number {
    return this.#security.tenants.get(tenant).wsMaxConnections
  }

  /** Takes a connection slot of `tenant`; false when its limit is reached. */
  acquire(tenant: string): boolean {
    return this.#slots.acquire(tenant, this.limit(tenant))
  }

  release(tenant: string): void {
    this.#slots.release(tenant)
  }

  /** Connections holding a slot of `tenant`. */
  count(tenant: string): number {
    return this.#slots.count(tenant)
  }
}
