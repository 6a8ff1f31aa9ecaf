// How the AI endpoints read data: through the query API's own /v1 endpoints (app.inject, no
// network), with the request's tenant (both the /v1 header and Loki's X-Scope-OrgID) and the
// caller's own credentials (tenancy.ts innerHeaders), so the same guard, tenant rule and guard rails
// apply, and every number an answer gives comes from a request a person can repeat — `curl` of
// `query.url` with the tenant header and their key.
import type { FastifyInstance } from 'fastify'

export interface ExecutedQuery {
  /** What this query was for, in a few words. */
  purpose: string
  method: 'GET'
  /** Path and query string, e.g. /v1/patterns?service=payments&from=…&to=… */
  url: string
  status: number
  /** Rows or items the answer held (for the reader's orientation). */
  rows: number | null
  duration_ms: number
}

export interface Asked<T> {
  ok: boolean
  status: number
  body: T
  query: ExecutedQuery
}

export type Ask = <T = unknown>(purpose: string, path: string, params: Record<string, string | number | bigint | undefined>) => Promise<Asked<T>>

/** Timestamps in query strings: RFC 3339 with nanoseconds is what the /v1 endpoints take and show. */
/** `headers`: the caller's credentials and the inner-request marker (QueryAccess.innerHeaders). */
export function askFor(app: FastifyInstance, tenant: string, headers: Record<string, string> = {}): Ask {
  return async <T>(purpose: string, path: string, params: Record<string, string | number | bigint | undefined>) => {
    const search = new URLSearchParams()
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') search.append(k, String(v))
    const qs = search.toString()
    const url = qs === '' ? path : `${path}?${qs}`
    const started = performance.now()
    const res = await app.inject({ method: 'GET', url, headers: { ...headers, 'x-sluice-tenant': tenant, 'x-scope-orgid': tenant } })
    const body = res.headers['content-type']?.toString().includes('json') ? (res.json() as T) : (res.body as unknown as T)
    return { ok: res.statusCode === 200, status: res.statusCode, body, query: { purpose, method: 'GET', url, status: res.statusCode, rows: countRows(body), duration_ms: Math.round(performance.now() - started) } }
  }
}

function countRows(body: unknown): number | null {
  if (body === null || typeof body !== 'object') return null
  for (const v of Object.values(body as Record<string, unknown>)) if (Array.isArray(v)) return v.length
  return null
}
