// Records as the query API answers them (GET /v1/logs), for the end-to-end tests that assert
// what a client's logs became in ClickHouse.

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
