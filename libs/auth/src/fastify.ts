// The door of every HTTP app: an onRequest hook that authenticates the request for its route's
// scope before its body is read, and `req.access` — who is asking and the tenant rule — for the
// handlers. A route opts out with `config: { public: true }` (health, metrics, the OpenAPI
// document) or asks for another scope than its app's with `config: { scope: 'admin' }`.
// Refusals (401, 403) are audited.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SluiceError, TENANT_PATTERN, isSluiceError } from '@sluice/core'
import type { AuditEntry } from './audit.js'
import type { Principal, Scope } from './keys.js'
import type { Security } from './security.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is asking; set by the guard before any handler runs. */
    access: Access
  }
  interface FastifyContextConfig {
    /** No credentials asked (health, readiness, metrics, API documents, the live page's files). */
    public?: boolean
    /** The scope the route needs, when not its app's. */
    scope?: Scope
  }
}

export interface Access {
  /** null: authentication is off, or the route is public. */
  readonly principal: Principal | null
  /** The key's id for audit rows: 'anonymous' when authentication is off. */
  readonly keyId: string
  /**
   * The tenant the request acts as: the one it names if its key allows it (403 otherwise), else
   * the key's, else `fallback`. With authentication off, `requested ?? fallback`.
   */
  tenant<F extends string | undefined>(requested: string | undefined, fallback: F): string | F
  /** Writes an audit row for this request (key id and remote address filled in). */
  audit(entry: Omit<AuditEntry, 'keyId' | 'remote'>): void
}

/** Headers naming a request's tenant: Sluice's, then Loki's (which Promtail, Alloy and Grafana send). */
export const TENANT_HEADERS = ['x-sluice-tenant', 'x-scope-orgid'] as const
/** The same, Loki's first: the order of the Loki-compatible routes. */
export const LOKI_TENANT_HEADERS = ['x-scope-orgid', 'x-sluice-tenant'] as const

/**
 * The tenant a request names in `headers`, or in `param`; undefined when it names none. Throws
 * VALIDATION_FAILED naming the header when a value is not a valid tenant id, and naming both places
 * when two of them name different tenants (the same tenant in several places is that tenant).
 */
export function requestedTenant(req: Pick<FastifyRequest, 'headers'>, headers: readonly string[] = TENANT_HEADERS, param?: string | undefined): string | undefined {
  let found: string | undefined
  let where = ''
  for (const name of headers) {
    const raw = req.headers[name]
    let v = Array.isArray(raw) ? raw[0] : raw
    if (typeof v !== 'string' || v === '') continue
    // A header sent twice arrives joined by ", " (the Elasticsearch JS client repeats its custom
    // headers in lower case): the same tenant twice is that tenant, different ones are refused.
    if (v.includes(',')) {
      const named = new Set(v.split(',').map((t) => t.trim()))
      if (named.size > 1) throw new SluiceError('VALIDATION_FAILED', `header ${name}: names several tenants (${[...named].join(', ')}); name one`)
      v = [...named][0]!
    }
    if (!TENANT_PATTERN.test(v)) throw new SluiceError('VALIDATION_FAILED', `header ${name}: expected 1-64 characters of A-Z a-z 0-9 _ . -`)
    if (found !== undefined && v !== found) throw twoTenants(where, found, `header ${name}`, v)
    found ??= v
    where ||= `header ${name}`
  }
  if (param === undefined || param === '') return found
  if (found !== undefined && param !== found) throw twoTenants(where, found, 'parameter tenant', param)
  return param
}

const twoTenants = (where: string, tenant: string, other: string, otherTenant: string) =>
  new SluiceError('VALIDATION_FAILED', `the request names two tenants: ${where} ${tenant}, ${other} ${otherTenant}; name one`)

/** Who is calling, for audit rows: an HTTP request, or a call at another door (its address and what it asked for). */
type Caller = FastifyRequest | { remote: string; target: string }

function remoteOf(caller: Caller): string {
  return 'target' in caller ? caller.remote : (caller.socket?.remoteAddress ?? '')
}

function routeOf(caller: Caller): string {
  return 'target' in caller ? caller.target : `${caller.method} ${caller.routeOptions.url ?? caller.url.split('?')[0]}`
}

// A class rather than closures: one small object per request, on the gateway's hot path too.
class RequestAccess implements Access {
  readonly principal: Principal | null
  readonly keyId: string
  #caller: Caller
  #security: Security

  constructor(caller: Caller, security: Security, principal: Principal | null) {
    this.#caller = caller
    this.#security = security
    this.principal = principal
    this.keyId = principal?.keyId ?? 'anonymous'
  }

  tenant<F extends string | undefined>(requested: string | undefined, fallback: F): string | F {
    try {
      return this.#security.auth.tenant(this.principal, requested, fallback)
    } catch (err) {
      this.audit({ action: 'auth.refused', outcome: 'refused', tenant: requested ?? '', target: routeOf(this.#caller), reason: isSluiceError(err) ? err.message : 'refused' })
      throw err
    }
  }

  audit(entry: Omit<AuditEntry, 'keyId' | 'remote'>): void {
    this.#security.audit.record({ ...entry, keyId: this.keyId, remote: remoteOf(this.#caller) })
  }
}

/** A refused key, audited. */
function refused(security: Security, caller: Caller, err: unknown): void {
  security.audit.record({ action: 'auth.refused', outcome: 'refused', tenant: '', keyId: '', target: routeOf(caller), reason: isSluiceError(err) ? err.message : 'refused', remote: remoteOf(caller) })
}

/**
 * The guard for a door that is not an HTTP route (the gateway's OTLP/gRPC listener): the key in
 * `headers` checked for `scope`, a refusal audited as the HTTP guard audits it, and the tenant rule.
 * Throws UNAUTHORIZED or FORBIDDEN.
 */
export function authenticateCall(security: Security, headers: Record<string, string | string[] | undefined>, scope: Scope, caller: { remote: string; target: string }): Access {
  try {
    return new RequestAccess(caller, security, security.auth.authenticate(headers, scope))
  } catch (err) {
    refused(security, caller, err)
    throw err
  }
}

/** Installs the guard on `app` (call before registering routes); `scope` is what its routes need by default. */
export function installGuard(app: FastifyInstance, security: Security, scope: Scope): void {
  app.decorateRequest('access', null as unknown as Access)
  // A callback hook, not an async one: no promise per request.
  app.addHook('onRequest', (req, _reply, done) => {
    const config = req.routeOptions.config as { public?: boolean; scope?: Scope } | undefined
    // A CORS preflight carries no credentials (browsers strip them): it is answered by the CORS
    // hook, and runs no handler, so it needs none.
    const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined
    if (config?.public === true || !security.auth.enabled || preflight || req.url.startsWith('/docs')) {
      req.access = new RequestAccess(req, security, null)
      return done()
    }
    try {
      req.access = new RequestAccess(req, security, security.auth.authenticate(req.headers, config?.scope ?? scope))
      done()
    } catch (err) {
      req.access = new RequestAccess(req, security, null)
      refused(security, req, err)
      done(err as Error)
    }
  })
  // A WebSocket upgrade answered over HTTP (refused here, before @fastify/websocket took it): Node
  // leaves an upgrade's socket to its listener, so end it once the answer is written, or it stays
  // open and the server's close waits for it. Accepted upgrades are hijacked and never get here.
  app.addHook('onResponse', (req, _reply, done) => {
    if (req.headers.upgrade?.toLowerCase() === 'websocket') req.raw.socket?.destroy()
    done()
  })
}
