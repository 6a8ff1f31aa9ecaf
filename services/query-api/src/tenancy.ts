// The tenant a read acts as, and what it may cost: one rule for every read path of the query API.
//
// Tenant: the one the request names — its X-Scope-OrgID or x-sluice-tenant header, or ?tenant=
// where the route takes it — checked against the caller's key by req.access.tenant (@sluice/auth:
// 403 for a tenant the key does not hold); else the key's tenant; else the route's fallback
// (undefined, every tenant, for the /v1 reads; `default` for the Loki API, the AI endpoints and
// registrations). A request naming two different tenants is refused (400) rather than settled by
// picking one. Every statement is then scoped to the tenant by a WHERE on its tenant column, which
// whatever else the request names (LogQL label matchers, pattern, session, trace or alert ids)
// can only narrow, never widen.
//
// Limits per tenant (SLUICE_TENANTS_FILE): query_max_concurrent requests of a tenant at once on
// this instance (429 with Retry-After), and query_max_range_hours per query (400 naming the limit;
// an open range, without `from`, is cut to the limit instead), under QUERY_MAX_RANGE_HOURS, the
// ceiling of every tenant (checkMaxRange). Reads of every tenant at once (a `*`
// key, or no authentication, naming none) count as tenant `*` under the default settings.
// Refusals are counted in sluice_query_refused_total{reason}.
//
// The AI endpoints read through the app itself (app.inject, ai/ask.ts). Their inner requests carry
// the caller's credentials, so the guard and this rule see the same caller, and a marker only this
// process knows, so they do not take a second slot beside the one their outer request holds.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { LOKI_TENANT_HEADERS, Gauges, TenantSettingsTable, requestedTenant } from '@sluice/auth'
import type { TenantSettings } from '@sluice/auth'
import { SluiceError, TENANT_PATTERN, isSluiceError } from '@sluice/core'
import { counter } from '@sluice/observability'
import type { Counter, Registry } from '@sluice/observability'
import { windowStart } from './selection.js'

/** Headers carrying credentials, forwarded on the AI endpoints' inner requests. */
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key'] as const
const INNER_HEADER = 'x-sluice-inner'
export const HOUR_NS = 3_600_000_000_000n
/** What a client refused for concurrency is told to wait: queries take seconds. */
const RETRY_AFTER_SECONDS = 1
/** The gauge key of reads over every tenant. */
const ALL_TENANTS = '*'

export const REFUSAL_REASONS = ['tenant', 'concurrency', 'range'] as const

/** A read admitted for a tenant (undefined: every tenant), and the longest range it may cover. */
export interface Read<T extends string | undefined = string | undefined> {
  tenant: T
  /** query_max_range_hours of the tenant; 0 = no limit. */
  maxRangeHours: number
}

export interface QueryAccessOptions {
  registry: Registry
  /** Tenants' settings; without them, no limits. */
  tenants?: TenantSettingsTable | undefined
}

/**
 * The tenant a request names, or undefined; throws VALIDATION_FAILED for an invalid name, several
 * tenants in X-Scope-OrgID (`a|b`), or two different tenants named in two places.
 */
export function namedTenant(req: Pick<FastifyRequest, 'headers'>, param?: string | undefined): string | undefined {
  for (const header of LOKI_TENANT_HEADERS) {
    const raw = req.headers[header]
    const v = Array.isArray(raw) ? raw[0] : raw
    if (typeof v === 'string' && v.includes('|')) throw new SluiceError('VALIDATION_FAILED', `queries across several tenants (${header} a|b) are not supported`)
  }
  if (param !== undefined && param !== '' && !TENANT_PATTERN.test(param)) throw new SluiceError('VALIDATION_FAILED', 'parameter tenant: expected 1-64 characters of A-Z a-z 0-9 _ . -')
  return requestedTenant(req, LOKI_TENANT_HEADERS, param)
}

/** Refuses (400, naming QUERY_MAX_RANGE_HOURS) a query spanning more than `maxRangeHours`, the limit of every tenant. */
function checkMaxRange(spanNs: bigint, maxRangeHours: number): void {
  const hours = Number(spanNs) / 3.6e12
  if (hours > maxRangeHours) throw new SluiceError('VALIDATION_FAILED', `the time range (${hours.toFixed(1)} h) exceeds the limit of ${maxRangeHours} h (QUERY_MAX_RANGE_HOURS)`)
}

export class QueryAccess {
  readonly #tenants: TenantSettingsTable
  readonly #running = new Gauges()
  readonly #refused: Counter<'reason'>
  readonly #token = randomBytes(24).toString('hex')
  readonly #reads = new WeakMap<FastifyRequest, Read>()

  constructor(opts: QueryAccessOptions) {
    this.#tenants = opts.tenants ?? new TenantSettingsTable(undefined, { retentionDays: 1 })
    this.#refused = counter(opts.registry, 'sluice_query_refused_total', 'Query API requests refused by reason: tenant (not the key\'s), concurrency (query_max_concurrent), range (query_max_range_hours).', ['reason'])
    for (const reason of REFUSAL_REASONS) this.#refused.inc({ reason }, 0)
  }

  /** The tenant `req` acts as (the module header's rule); no limits taken. */
  tenant<F extends string | undefined>(req: FastifyRequest, fallback: F, param?: string | undefined): string | F {
    const named = namedTenant(req, param)
    try {
      return req.access.tenant(named, fallback)
    } catch (err) {
      if (isSluiceError(err) && err.code === 'FORBIDDEN') this.#refused.inc({ reason: 'tenant' })
      throw err
    }
  }

  /**
   * The tenant of a read, admitted under the tenant's concurrency limit until its answer is sent
   * (429 RATE_LIMITED otherwise). Asked again for the same request, answers the same read.
   */
  open<F extends string | undefined>(req: FastifyRequest, reply: FastifyReply, fallback: F, param?: string | undefined): Read<string | F> {
    const seen = this.#reads.get(req)
    if (seen) return seen as Read<string | F>
    const tenant = this.tenant(req, fallback, param)
    const settings = this.settings(tenant)
    if (!this.#inner(req)) {
      const key = tenant ?? ALL_TENANTS
      if (!this.#running.acquire(key, settings.queryMaxConcurrent)) {
        this.#refused.inc({ reason: 'concurrency' })
        throw new SluiceError(
          'RATE_LIMITED',
          `too many queries at once: tenant ${key} has ${settings.queryMaxConcurrent} running, its limit (query_max_concurrent); retry shortly`,
          { retryAfterSeconds: RETRY_AFTER_SECONDS, canRetry: true },
        )
      }
      reply.raw.once('close', () => this.#running.release(key))
    }
    const read = { tenant, maxRangeHours: settings.queryMaxRangeHours }
    this.#reads.set(req, read)
    return read
  }

  settings(tenant: string | undefined): TenantSettings {
    return tenant === undefined ? this.#tenants.defaults : this.#tenants.get(tenant)
  }

  /** Queries of `tenant` (undefined: every tenant) running now, on this instance. */
  running(tenant: string | undefined): number {
    return this.#running.count(tenant ?? ALL_TENANTS)
  }

  /** Refuses (400, naming the limit) a query spanning more than the read's range limit. */
  checkRange(read: Read, spanNs: bigint): void {
    if (read.maxRangeHours <= 0 || spanNs <= BigInt(read.maxRangeHours) * HOUR_NS) return
    this.#refused.inc({ reason: 'range' })
    throw new SluiceError(
      'VALIDATION_FAILED',
      `the query time range (${(Number(spanNs) / 3.6e12).toFixed(1)} h) exceeds the limit of ${read.maxRangeHours} h of tenant ${read.tenant ?? ALL_TENANTS} (query_max_range_hours); narrow from/to`,
    )
  }

  /**
   * The time range of a /v1 read under its range limits, `maxRangeHours` (QUERY_MAX_RANGE_HOURS)
   * and the tenant's: an explicit one longer than either is refused; an open one (no `from`) starts
   * the shorter of them before `to` (or now), and not before the Unix epoch, where the tenant has
   * a limit (without one it stays open).
   */
  range(read: Read, maxRangeHours: number, from: bigint | undefined, to: bigint | undefined, nowNs = BigInt(Date.now()) * 1_000_000n): { from: bigint | undefined; to: bigint | undefined } {
    const end = to ?? nowNs
    if (from === undefined) {
      // Without a tenant limit an open range stays open (retention bounds it), as it always read.
      if (read.maxRangeHours <= 0) return { from, to }
      return { from: windowStart(end, BigInt(Math.min(read.maxRangeHours, maxRangeHours)) * HOUR_NS), to }
    }
    this.checkSpan(read, maxRangeHours, end - from)
    return { from, to }
  }

  /** Refuses a span of a read over QUERY_MAX_RANGE_HOURS (`maxRangeHours`) or the tenant's limit. */
  checkSpan(read: Read, maxRangeHours: number, spanNs: bigint): void {
    checkMaxRange(spanNs, maxRangeHours)
    this.checkRange(read, spanNs)
  }

  /** Headers of an inner request made for `req` (ai/ask.ts): its credentials, and the marker. */
  innerHeaders(req: FastifyRequest): Record<string, string> {
    const out: Record<string, string> = { [INNER_HEADER]: this.#token }
    for (const h of CREDENTIAL_HEADERS) {
      const v = req.headers[h]
      if (typeof v === 'string') out[h] = v
    }
    return out
  }

  #inner(req: FastifyRequest): boolean {
    const v = req.headers[INNER_HEADER]
    if (typeof v !== 'string' || v.length !== this.#token.length) return false
    return timingSafeEqual(Buffer.from(v), Buffer.from(this.#token))
  }
}
