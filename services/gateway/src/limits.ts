// Per-tenant ingest limits (SLUICE_TENANTS_FILE: ingest_records_per_second,
// ingest_bytes_per_second, ingest_burst_seconds): two token buckets per tenant, records and bytes,
// each holding rate × burst seconds. A request is counted after its records were read, validated
// and encoded, before anything is produced, and it goes through whole or not at all: a refused
// request takes no tokens and writes nothing, and is answered RATE_LIMITED (429 + Retry-After, in
// each protocol's form), so that what a client was told was accepted is exactly what was stored.
//
// Bytes are those of the records as the gateway writes them to Kafka (key and Avro value): the same
// logs cost the same whether they came as OTLP protobuf, JSON, a gzip body or a syslog frame, and
// records refused as invalid cost nothing.
import type { TenantSettingsTable } from '@sluice/auth'
import { TokenBuckets } from '@sluice/auth'
import { SluiceError } from '@sluice/core'
import { counter } from '@sluice/observability'
import type { Counter, Registry } from '@sluice/observability'

export const LIMIT_REASONS = ['records', 'bytes'] as const
export type LimitReason = (typeof LIMIT_REASONS)[number]

/** What one request would write for one tenant. */
export interface TenantUsage {
  records: number
  bytes: number
}

/**
 * Distinct tenant label values the metrics take at most; beyond, `_other`. Tenants are bounded by
 * the keys file when authentication is on, but with it off any header names one.
 */
const MAX_TENANT_LABELS = 1000

/** Whether any tenant has an ingest limit (the defaults or its own settings). */
export function hasIngestLimits(tenants: TenantSettingsTable): boolean {
  const limited = (t: { ingestRecordsPerSecond: number; ingestBytesPerSecond: number }) => t.ingestRecordsPerSecond > 0 || t.ingestBytesPerSecond > 0
  return limited(tenants.defaults) || tenants.overridden().some((t) => limited(tenants.get(t)))
}

export class IngestLimits {
  readonly #tenants: TenantSettingsTable
  readonly #buckets: TokenBuckets
  readonly #refused: Counter<'tenant' | 'reason'>
  readonly #refusedRecords: Counter<'tenant' | 'reason'>
  readonly #labels = new Set<string>()

  constructor(tenants: TenantSettingsTable, registry: Registry, clock?: () => number) {
    this.#tenants = tenants
    this.#buckets = new TokenBuckets(clock)
    this.#refused = counter(registry, 'sluice_gateway_rate_limited_total', 'Requests (and syslog batches) refused with 429 by a tenant’s ingest limit, by the limit hit.', ['tenant', 'reason'])
    this.#refusedRecords = counter(registry, 'sluice_gateway_rate_limited_records_total', 'Records of requests refused by a tenant’s ingest limit (nothing of them was written).', ['tenant', 'reason'])
  }

  /**
   * Takes `usage` from every tenant's buckets, or none of it: throws RATE_LIMITED (retryable, with
   * the seconds until the tokens are there) naming the tenant and the limit.
   */
  take(usage: ReadonlyMap<string, TenantUsage>): void {
    const taken: Array<[string, number]> = []
    for (const [tenant, use] of usage) {
      const s = this.#tenants.get(tenant)
      for (const reason of LIMIT_REASONS) {
        const n = reason === 'records' ? use.records : use.bytes
        const rate = reason === 'records' ? s.ingestRecordsPerSecond : s.ingestBytesPerSecond
        const key = `${tenant}\n${reason}`
        const waitSeconds = this.#buckets.take(key, n, rate, s.ingestBurstSeconds)
        if (waitSeconds === 0) {
          if (rate > 0) taken.push([key, n])
          continue
        }
        for (const [k, m] of taken) this.#buckets.refund(k, m)
        const label = this.#label(tenant)
        this.#refused.inc({ tenant: label, reason })
        let records = 0
        for (const u of usage.values()) records += u.records
        this.#refusedRecords.inc({ tenant: label, reason }, records)
        const unit = reason === 'records' ? 'records' : 'bytes'
        throw new SluiceError('RATE_LIMITED', `tenant ${tenant} is over its ingest limit of ${rate} ${unit}/s (burst ${rate * s.ingestBurstSeconds}); this request of ${n} ${unit} was not stored, retry in ${waitSeconds} s`, { canRetry: true, retryAfterSeconds: waitSeconds })
      }
    }
  }

  /** Gives back what `take` took, for a request then refused for another reason (overload). */
  refund(usage: ReadonlyMap<string, TenantUsage>): void {
    for (const [tenant, use] of usage) {
      const s = this.#tenants.get(tenant)
      if (s.ingestRecordsPerSecond > 0) this.#buckets.refund(`${tenant}\nrecords`, use.records)
      if (s.ingestBytesPerSecond > 0) this.#buckets.refund(`${tenant}\nbytes`, use.bytes)
    }
  }

  #label(tenant: string): string {
    if (this.#labels.has(tenant)) return tenant
    if (this.#labels.size >= MAX_TENANT_LABELS) return '_other'
    this.#labels.add(tenant)
    return tenant
  }
}
