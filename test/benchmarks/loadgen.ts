// HTTP load generator: N keep-alive connections, each posting pre-built bodies (NDJSON, or any
// protocol's) back to back (closed loop: a connection sends its next request when the previous one answered), for a
// fixed duration. Bodies are built before the clock starts and only cycled here, so the load
// generator costs little CPU on a machine it shares with the system under test.
import http from 'node:http'
import { percentile } from './table.js'

/** One pre-built request body and how many records it carries. */
export interface RequestBody {
  body: Buffer
  records: number
}

export interface LoadOptions {
  url: string
  /** Default /v1/logs. */
  path?: string
  bodies: readonly RequestBody[]
  connections: number
  durationMs: number
  /** Over the default `content-type: application/x-ndjson`. */
  headers?: Record<string, string>
  /**
   * How a 2xx answer counts its accepted records: `response` reads Sluice's `{ accepted }`;
   * `records` counts the body's records (protocols whose success answer carries no count).
   */
  accepted?: 'response' | 'records'
  /** Failing requests (network errors) tolerated before the run is aborted. */
  maxNetworkErrors?: number
}

export interface LoadResult {
  requests: number
  ok: number
  non2xx: number
  /** Status code → count, for everything that was not 2xx. */
  statuses: Record<string, number>
  networkErrors: number
  firstError?: string
  /** Sum of `accepted` over 2xx answers (see LoadOptions.accepted). */
  accepted: number
  /** Request body bytes of 2xx answers. */
  okBytes: number
  startedAt: number
  /** When the last in-flight request answered (sending stops at the deadline). */
  endedAt: number
  elapsedS: number
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number }
}

interface Answer {
  status: number
  text: string
}

function post(agent: http.Agent, url: URL, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson', 'content-length': String(body.length), ...headers } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

function acceptedOf(text: string): number {
  try {
    const parsed = JSON.parse(text) as { accepted?: unknown }
    return typeof parsed.accepted === 'number' ? parsed.accepted : 0
  } catch {
    return 0
  }
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const url = new URL(opts.path ?? '/v1/logs', opts.url)
  const countRecords = opts.accepted === 'records'
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections })
  const headers = opts.headers ?? {}
  const maxNetworkErrors = opts.maxNetworkErrors ?? 20
  const latencies: number[] = []
  const r: Omit<LoadResult, 'latencyMs' | 'elapsedS' | 'endedAt'> = {
    requests: 0,
    ok: 0,
    non2xx: 0,
    statuses: {},
    networkErrors: 0,
    accepted: 0,
    okBytes: 0,
    startedAt: performance.now(),
  }
  const deadline = r.startedAt + opts.durationMs

  const worker = async (offset: number) => {
    // Connections start at different bodies so they do not post the same content in lockstep.
    let next = offset
    while (performance.now() < deadline && r.networkErrors <= maxNetworkErrors) {
      const body = opts.bodies[next++ % opts.bodies.length]!
      const t0 = performance.now()
      try {
        const answer = await post(agent, url, body.body, headers)
        latencies.push(performance.now() - t0)
        r.requests++
        if (answer.status >= 200 && answer.status < 300) {
          r.ok++
          r.okBytes += body.body.length
          r.accepted += countRecords ? body.records : acceptedOf(answer.text)
        } else {
          r.non2xx++
          r.statuses[answer.status] = (r.statuses[answer.status] ?? 0) + 1
          r.firstError ??= `HTTP ${answer.status}: ${answer.text.slice(0, 300)}`
        }
      } catch (err) {
        r.requests++
        r.networkErrors++
        r.firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }

  try {
    await Promise.all(Array.from({ length: opts.connections }, (_, i) => worker(i * 7)))
  } finally {
    agent.destroy()
  }
  const endedAt = performance.now()
  if (r.networkErrors > maxNetworkErrors) throw new Error(`load aborted after ${r.networkErrors} network errors: ${r.firstError}`)
  latencies.sort((a, b) => a - b)
  const mean = latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length)
  return {
    ...r,
    endedAt,
    elapsedS: (endedAt - r.startedAt) / 1000,
    latencyMs: { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, mean },
  }
}
