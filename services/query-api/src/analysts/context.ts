// What the analyst endpoints share: their options, the guarded runner, the tenant, and the
// time window of a request (defaults, order, and the maximum range).
import type { FastifyRequest } from 'fastify'
import { SluiceError } from '@sluice/core'
import type { Run } from '../guard.js'
import { requestTenant } from '../selection.js'

export interface AnalystOptions {
  database: string
  /** Most records one answer lists (QUERY_MAX_LIMIT). */
  maxLimit: number
  maxRangeHours: number
  /** A service silent this long is `down`. */
  serviceDownAfterMs: number
  /** A service whose share of error records over the window reaches this is `degraded`. */
  serviceDegradedErrorRate: number
  /** How far back a service counts as known (the health overview lists it). */
  serviceLookbackHours: number
}

export interface AnalystContext {
  opts: AnalystOptions
  run: Run
  /** `?tenant=` or the `x-sluice-tenant` header; undefined reads every tenant. */
  tenantOf(req: FastifyRequest, param: string | undefined): string | undefined
  /** [from, to) in epoch ns: `to` defaults to now, `from` to `to − defaultMs`; at most QUERY_MAX_RANGE_HOURS. */
  window(p: { from?: bigint | undefined; to?: bigint | undefined }, defaultMs: number): { fromNs: bigint; toNs: bigint }
}

export const MS = 1_000_000n
export const S = 1_000_000_000n

export function analystContext(opts: AnalystOptions, run: Run): AnalystContext {
  return {
    opts,
    run,
    tenantOf: requestTenant,
    window(p, defaultMs) {
      const toNs = p.to ?? BigInt(Date.now()) * MS
      const fromNs = p.from ?? toNs - BigInt(defaultMs) * MS
      if (fromNs >= toNs) throw new SluiceError('VALIDATION_FAILED', 'parameter from: must be before to')
      const hours = Number(toNs - fromNs) / 3.6e12
      if (hours > opts.maxRangeHours) {
        throw new SluiceError('VALIDATION_FAILED', `the time range (${hours.toFixed(1)} h) exceeds the limit of ${opts.maxRangeHours} h (QUERY_MAX_RANGE_HOURS)`)
      }
      return { fromNs, toNs }
    },
  }
}
