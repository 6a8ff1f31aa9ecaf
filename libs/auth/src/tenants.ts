// Per-tenant settings: ingest and query limits, live-stream connections and retention, with
// defaults for every tenant and overrides per tenant (Loki's `limits_config` + runtime overrides).
//
// The tenants file (SLUICE_TENANTS_FILE), JSON; every field optional, 0 = no limit:
//   {"defaults":{"ingest_records_per_second":20000,"ingest_bytes_per_second":10485760,
//                "ingest_burst_seconds":2,"query_max_concurrent":8,"query_max_range_hours":744,
//                "ws_max_connections":100,"retention_days":30},
//    "tenants":{"acme":{"ingest_records_per_second":100000,"retention_days":90}}}
// Without the file: no ingest, query or connection limits, and CLICKHOUSE_TTL_DAYS retention.
import { z } from 'zod'
import { TENANT_PATTERN } from '@sluice/core'

const limit = z.number().int().min(0)

const settingsSchema = z.strictObject({
  /** Records per second a tenant may send (token bucket refill); 0 = no limit. */
  ingest_records_per_second: limit.optional(),
  /** Bytes per second of the records as the gateway writes them (key and Avro value); 0 = no limit. */
  ingest_bytes_per_second: limit.optional(),
  /** Bucket depth in seconds of the rate: how long a burst above the rate may last. */
  ingest_burst_seconds: z.number().positive().max(3600).optional(),
  /** Queries of one tenant running at once on one query-api instance; 0 = no limit. */
  query_max_concurrent: limit.optional(),
  /** Longest time range one query may cover, in hours; 0 = no limit. */
  query_max_range_hours: limit.optional(),
  /** Live-stream WebSocket connections of one tenant on one ws-fanout instance; 0 = no limit. */
  ws_max_connections: limit.optional(),
  /** Days the tenant's logs are kept (1-3650). */
  retention_days: z.number().int().min(1).max(3650).optional(),
})

export const tenantsFileSchema = z.strictObject({
  defaults: settingsSchema.optional(),
  tenants: z
    .record(z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -'), settingsSchema)
    .optional(),
})

export type TenantsFile = z.infer<typeof tenantsFileSchema>

export interface TenantSettings {
  ingestRecordsPerSecond: number
  ingestBytesPerSecond: number
  ingestBurstSeconds: number
  queryMaxConcurrent: number
  queryMaxRangeHours: number
  wsMaxConnections: number
  retentionDays: number
}

export function parseTenantsFile(text: string): TenantsFile {
  const r = tenantsFileSchema.safeParse(JSON.parse(text))
  if (!r.success) throw new Error(r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '))
  return r.data
}

type Raw = z.infer<typeof settingsSchema>

function resolve(base: TenantSettings, raw: Raw | undefined): TenantSettings {
  if (raw === undefined) return base
  return Object.freeze({
    ingestRecordsPerSecond: raw.ingest_records_per_second ?? base.ingestRecordsPerSecond,
    ingestBytesPerSecond: raw.ingest_bytes_per_second ?? base.ingestBytesPerSecond,
    ingestBurstSeconds: raw.ingest_burst_seconds ?? base.ingestBurstSeconds,
    queryMaxConcurrent: raw.query_max_concurrent ?? base.queryMaxConcurrent,
    queryMaxRangeHours: raw.query_max_range_hours ?? base.queryMaxRangeHours,
    wsMaxConnections: raw.ws_max_connections ?? base.wsMaxConnections,
    retentionDays: raw.retention_days ?? base.retentionDays,
  })
}

/** Every tenant's settings: the file's defaults over built-in ones, then the tenant's overrides. */
export class TenantSettingsTable {
  readonly defaults: TenantSettings
  #byTenant = new Map<string, TenantSettings>()

  constructor(file: TenantsFile | undefined, opts: { retentionDays: number }) {
    const builtIn: TenantSettings = {
      ingestRecordsPerSecond: 0,
      ingestBytesPerSecond: 0,
      ingestBurstSeconds: 2,
      queryMaxConcurrent: 0,
      queryMaxRangeHours: 0,
      wsMaxConnections: 0,
      retentionDays: opts.retentionDays,
    }
    this.defaults = resolve(builtIn, file?.defaults)
    for (const [tenant, raw] of Object.entries(file?.tenants ?? {})) this.#byTenant.set(tenant, resolve(this.defaults, raw))
  }

  get(tenant: string): TenantSettings {
    return this.#byTenant.get(tenant) ?? this.defaults
  }

  /** Tenants with settings of their own. */
  overridden(): string[] {
    return [...this.#byTenant.keys()]
  }
}

/**
 * A token bucket per tenant: `rate` tokens a second, at most `rate × burstSeconds` held. `take`
 * either takes `n` tokens or answers how many seconds until they are there (nothing taken), so a
 * refused request leaves the bucket as it was. A request larger than the whole bucket is let
 * through when the bucket is full (it can never fit otherwise), leaving it in debt.
 */
export class TokenBuckets {
  #buckets = new Map<string, { tokens: number; atMs: number }>()
  #clock: () => number

  constructor(clock: () => number = Date.now) {
    this.#clock = clock
  }

  /** 0 when taken, else the seconds to wait (≥ 1). `rate` 0 means no limit. */
  take(key: string, n: number, rate: number, burstSeconds: number): number {
    if (rate <= 0 || n <= 0) return 0
    const now = this.#clock()
    const capacity = Math.max(1, rate * burstSeconds)
    let b = this.#buckets.get(key)
    if (b === undefined) {
      b = { tokens: capacity, atMs: now }
      this.#buckets.set(key, b)
    } else {
      b.tokens = Math.min(capacity, b.tokens + ((now - b.atMs) / 1000) * rate)
      b.atMs = now
    }
    if (b.tokens >= n || b.tokens >= capacity) {
      b.tokens -= n
      return 0
    }
    return Math.max(1, Math.ceil((n - b.tokens) / rate))
  }

  /** Gives back tokens taken for work that was then refused for another reason. */
  refund(key: string, n: number): void {
    const b = this.#buckets.get(key)
    if (b !== undefined) b.tokens += n
  }
}

/** Counts in-flight work per key against a limit (queries, connections). */
export class Gauges {
  #counts = new Map<string, number>()

  /** Takes a slot; false when `limit` (> 0) are in use. */
  acquire(key: string, limit: number): boolean {
    const n = this.#counts.get(key) ?? 0
    if (limit > 0 && n >= limit) return false
    this.#counts.set(key, n + 1)
    return true
  }

  release(key: string): void {
    const n = (this.#counts.get(key) ?? 1) - 1
    if (n <= 0) this.#counts.delete(key)
    else this.#counts.set(key, n)
  }

  count(key: string): number {
    return this.#counts.get(key) ?? 0
  }
}
