// What the analyst endpoints share: their options, the guarded runner, the tenant of a request
// and its limits (tenancy.ts), and the time window of a request (defaults, order, the maximum range).
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Run } from '../guard.js'
import { timeWindow } from '../selection.js'
import type { QueryAccess, Read } from '../tenancy.js'

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
  access: QueryAccess
  /** The read of a request: its tenant (undefined: every tenant), admitted under its limits. */
  open(req: FastifyRequest, reply: FastifyReply, param: string | undefined): Read
  /**
   * [from, to) in epoch ns: `to` defaults to now, `from` to `to − defaultMs` (cut to the tenant's
   * range limit, and to the Unix epoch); at most QUERY_MAX_RANGE_HOURS, and the tenant's
   * query_max_range_hours.
   */
  window(p: { from?: bigint | undefined; to?: bigint | undefined }, defaultMs: number, read: Read): { fromNs: bigint; toNs: bigint }
}

export const MS = 1_000_000n
export const S = 1_000_000_000n

export function analystContext(opts: AnalystOptions, run: Run, access: QueryAccess): AnalystContext {
  return {
    opts,
    run,
    access,
    open: (req, reply, param) => access.open(req, reply, undefined, param),
    window(p, defaultMs, read) {
      const tenantMs = read.maxRangeHours > 0 ? read.maxRangeHours * 3_600_000 : Infinity
      const { fromNs, toNs } = timeWindow(p.from, p.to ?? BigInt(Date.now()) * MS, BigInt(Math.min(defaultMs, tenantMs)) * MS)
      access.checkSpan(read, opts.maxRangeHours, toNs - fromNs)
      return { fromNs, toNs }
    },
  }
}
