// Records as the query API answers them (GET /v1/logs), for the end-to-end tests that assert
// what a client's logs became in ClickHouse.
import { waitFor } from './sluice.js'

export interface StoredLog {
  id: string
  tenant: string
  timestamp: string
  service: string
  host: string | null
  severity_text: string
  severity_number: number
  message: string
  trace_id: string | null
  span_id: string | null
  attributes: Record<string, string>
  resource: Record<string, string>
  source: string
}

/** GET <queryApi>/v1/logs with `params` (tenant, service, limit, …); throws on a non-200. */
export async function queryLogs(queryApi: string, params: Record<string, string>): Promise<StoredLog[]> {
  const res = await fetch(`${queryApi}/v1/logs?${new URLSearchParams(params)}`)
  if (!res.ok) throw new Error(`query-api answered ${res.status}: ${await res.text()}`)
  return ((await res.json()) as { logs: StoredLog[] }).logs
}

/**
 * The `count` records of `service` (of `tenant`, else the default one) once the query API holds
 * that many (read with `key` when authentication is on), by message; throws when it holds more.
 */
export async function logsOf(queryApi: string, service: string, count: number, key?: string, tenant?: string): Promise<Map<string, StoredLog>> {
  const params = new URLSearchParams({ service, limit: '100', ...(tenant !== undefined && { tenant }) })
  const logs = await waitFor(`${count} logs of ${service}${tenant === undefined ? '' : ` (tenant ${tenant})`}`, async () => {
    const res = await fetch(`${queryApi}/v1/logs?${params}`, { headers: key ? { authorization: `Bearer ${key}` } : {} })
    if (!res.ok) throw new Error(`query-api answered ${res.status}: ${await res.text()}`)
    const { logs } = (await res.json()) as { logs: StoredLog[] }
    return logs.length >= count ? logs : undefined
  })
  if (logs.length !== count) throw new Error(`expected ${count} logs of ${service}, the query API holds ${logs.length}: ${logs.map((l) => l.message.slice(0, 80)).join(' | ')}`)
  return new Map(logs.map((l) => [l.message, l]))
}

/** The query API's timestamp (RFC 3339 to the nanosecond) of an epoch-ms time. */
export const isoNs = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')

/** The query API's timestamp of `s` seconds and `ns` nanoseconds after the epoch. */
export const isoSecNs = (s: number, ns = 0) => `${new Date(s * 1000).toISOString().slice(0, 19)}.${String(ns).padStart(9, '0')}Z`
