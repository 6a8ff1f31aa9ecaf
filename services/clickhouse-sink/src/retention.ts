// The RetentionDays column of each row: the days its tenant keeps logs (SLUICE_TENANTS_FILE
// retention_days, else CLICKHOUSE_TTL_DAYS). It is part of logs' partition key (schemas/clickhouse/
// 0011), so a part holds rows of one day and one retention and ClickHouse drops it whole when they
// expire. The sink writes it for every row, so this sits on the hot path: the answer is decided at
// construction when every tenant keeps logs equally long (no lookup at all), and otherwise
// remembered per tenant, so a row costs a map lookup at most.
import { retentionDaysColumnValue } from '@sluice/clickhouse'
import type { TenantSettings } from '@sluice/auth'

/** What this needs of the tenants' settings (TenantSettingsTable). */
export interface TenantRetentionSource {
  readonly defaults: TenantSettings
  get(tenant: string): TenantSettings
  overridden(): string[]
}

export class TenantRetention {
  /** The days of every tenant, when all keep logs equally long; else undefined. */
  readonly uniform: number | undefined
  /** The longest any tenant keeps logs, in days (it bounds the latest event time a row may have: row-binary.ts). */
  readonly longest: number
  readonly #source: TenantRetentionSource | undefined
  readonly #byTenant = new Map<string, number>()

  private constructor(uniform: number | undefined, source: TenantRetentionSource | undefined) {
    this.uniform = uniform
    this.#source = source
    this.longest = uniform ?? Math.max(...[source!.defaults, ...source!.overridden().map((t) => source!.get(t))].map((s) => retentionDaysColumnValue(s.retentionDays)))
  }

  /** The same retention for every tenant (tests, benchmarks). */
  static uniform(days: number): TenantRetention {
    return new TenantRetention(retentionDaysColumnValue(days), undefined)
  }

  static of(tenants: TenantRetentionSource): TenantRetention {
    const days = tenants.defaults.retentionDays
    const same = tenants.overridden().every((t) => tenants.get(t).retentionDays === days)
    return same ? TenantRetention.uniform(days) : new TenantRetention(undefined, tenants)
  }

  /** The RetentionDays value of a row of `tenant`: 1 to 65535 (UInt16). */
  days(tenant: string): number {
    if (this.uniform !== undefined) return this.uniform
    let days = this.#byTenant.get(tenant)
    if (days === undefined) {
      days = retentionDaysColumnValue(this.#source!.get(tenant).retentionDays)
      // Tenant names come from records: bound the memory a flood of made-up tenants could take.
      if (this.#byTenant.size >= 10_000) this.#byTenant.clear()
      this.#byTenant.set(tenant, days)
    }
    return days
  }
}
