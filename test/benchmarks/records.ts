// Realistic log records for the load: ~50 services, a handful of hosts each, levels skewed the
// way production traffic is (mostly info), messages with varying numbers and ids, a few
// attributes, trace context on some. A seeded PRNG makes every run post the same bytes, so runs
// compare. No `id` field: the gateway assigns UUIDv7s, which is what real clients rely on.

/** mulberry32: tiny, fast, good enough to vary log lines. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const SERVICE_STEMS = ['checkout', 'payments', 'cart', 'catalog', 'search', 'auth', 'users', 'orders', 'shipping', 'inventory']
const SERVICE_KINDS = ['api', 'worker', 'gateway', 'scheduler', 'consumer']
export const SERVICES: readonly string[] = SERVICE_STEMS.flatMap((s) => SERVICE_KINDS.map((k) => `${s}-${k}`))
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1']
const ROUTES = ['/api/v1/orders/:id', '/api/v1/cart', '/api/v1/items', '/api/v1/users/:id/profile', '/api/v1/payments', '/healthz']
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE']
const WORDS = ['cache', 'miss', 'retrying', 'upstream', 'connection', 'pool', 'exhausted', 'timeout', 'rebalance', 'commit', 'flush', 'partition', 'snapshot', 'lease', 'renewed']

export interface InputRecord {
  timestamp: string
  level: string
  service: string
  host: string
  message: string
  trace_id?: string
  span_id?: string
  attributes: Record<string, string>
}

export class RecordGenerator {
  readonly #rand: () => number
  readonly #targetBytes: number
  #seq = 0

  constructor(targetBytes: number, seed = 42) {
    this.#rand = prng(seed)
    this.#targetBytes = targetBytes
  }

  #int(n: number): number {
    return Math.floor(this.#rand() * n)
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)]!
  }

  #hex(chars: number): string {
    let s = ''
    while (s.length < chars) s += this.#int(0x10000000).toString(16).padStart(7, '0')
    return s.slice(0, chars)
  }

  #level(): string {
    const r = this.#rand()
    return r < 0.7 ? 'info' : r < 0.85 ? 'debug' : r < 0.95 ? 'warn' : r < 0.99 ? 'error' : 'fatal'
  }

  /** One record; its JSON is close to the target size (messages are padded with log-ish words). */
  next(nowMs: number): InputRecord {
    const seq = this.#seq++
    const service = this.#pick(SERVICES)
    const region = this.#pick(REGIONS)
    const method = this.#pick(METHODS)
    const route = this.#pick(ROUTES)
    const status = this.#rand() < 0.93 ? 200 : this.#pick([201, 204, 400, 404, 409, 500, 502, 503])
    const durationMs = Math.round(1 + this.#rand() ** 3 * 2000)
    const orderId = 1_000_000 + this.#int(9_000_000)
    const user = `u-${this.#int(200_000)}`
    const level = status >= 500 ? 'error' : this.#level()
    const record: InputRecord = {
      // Spread over the last minute, millisecond precision, like a busy fleet's clocks.
      timestamp: new Date(nowMs - this.#int(60_000)).toISOString(),
      level,
      service,
      host: `ip-10-${this.#int(4)}-${this.#int(256)}-${this.#int(256)}.${region}.compute.internal`,
      message: `${method} ${route.replace(':id', String(orderId))} ${status} in ${durationMs} ms user=${user} req=${this.#hex(12)} seq=${seq}`,
      attributes: {
        'http.method': method,
        'http.route': route,
        'http.status_code': String(status),
        duration_ms: String(durationMs),
        region,
      },
    }
    if (this.#rand() < 0.6) {
      record.trace_id = this.#hex(32)
      record.span_id = this.#hex(16)
    }
    let size = Buffer.byteLength(JSON.stringify(record))
    while (size < this.#targetBytes - 6) {
      const word = this.#pick(WORDS)
      record.message += ` ${word}`
      size += word.length + 1
    }
    return record
  }
}

export interface NdjsonBody {
  body: Buffer
  records: number
  /** The parsed records, for producing the same content straight to Kafka. */
  inputs: InputRecord[]
}

/** `count` distinct NDJSON bodies of `recordsPerBody` records each. */
export function ndjsonBodies(count: number, recordsPerBody: number, recordBytes: number, nowMs = Date.now()): NdjsonBody[] {
  const gen = new RecordGenerator(recordBytes)
  const bodies: NdjsonBody[] = []
  for (let b = 0; b < count; b++) {
    const inputs: InputRecord[] = []
    for (let i = 0; i < recordsPerBody; i++) inputs.push(gen.next(nowMs))
    bodies.push({ body: Buffer.from(inputs.map((r) => JSON.stringify(r)).join('\n') + '\n'), records: recordsPerBody, inputs })
  }
  return bodies
}
