// EnrichedLog records as the enricher writes them to logs.enriched, for the alerter's benchmark:
// tenant `bench`, 1 000 services (svc-0000 … svc-0999), mostly INFO and DEBUG with ~3 % errors
// and a few FATAL, a handful of templates per service (pattern_id is the enricher's own hash of
// the template), keyed `tenant/service` like the enricher. One service in fifty is unhealthy
// (15 % errors, and every FATAL): the windowed rules find something there and hardly anywhere
// else, and a FATAL probe sent for any other service is a new incident. A seeded PRNG makes every
// run produce the same sequence (ids aside: UUIDv7s, as the gateway assigns them).
import type { Message } from 'kafkajs'
import type { Category, EnrichedLog, ParsedFormat } from '@sluice/core'
import { uuidv7 } from '@sluice/core'
import { patternIdOf } from '@sluice/enricher'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { prng } from './records.js'

export const BENCH_TENANT = 'bench'
export const SERVICE_COUNT = 1000

export function serviceName(index: number): string {
  return `svc-${String(index).padStart(4, '0')}`
}

/** The services with a high error rate; the only ones whose generated traffic holds FATALs. */
export function isUnhealthy(index: number): boolean {
  return index % 50 === 0
}

type Level = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL'
const SEVERITY_NUMBER: Record<Level, number> = { DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 }

interface Template {
  level: Level
  /** The Drain template; its <NUM> and <*> are filled in per record to make the message. */
  template: string
  patternId: string
  category: Category
  parsedFormat: ParsedFormat | null
  httpStatus: number | null
  errorCode: string | null
}

const tpl = (level: Level, template: string, extra: Partial<Omit<Template, 'level' | 'template' | 'patternId'>> = {}): Template => ({
  level,
  template,
  patternId: patternIdOf(template),
  category: 'unknown',
  parsedFormat: null,
  httpStatus: null,
  errorCode: null,
  ...extra,
})

const ROUTINE: readonly Template[] = [
  tpl('INFO', 'GET /api/v1/orders/<NUM> 200 in <NUM> ms', { parsedFormat: 'access', httpStatus: 200 }),
  tpl('INFO', 'POST /api/v1/cart 201 in <NUM> ms', { parsedFormat: 'access', httpStatus: 201 }),
  tpl('INFO', 'request served for user <*> in <NUM> ms'),
  tpl('INFO', 'lease renewed for partition <NUM> until <NUM>'),
  tpl('DEBUG', 'cache miss for key <*>'),
  tpl('DEBUG', 'flushed <NUM> records to partition <NUM>'),
]
const WARNINGS: readonly Template[] = [
  tpl('WARN', 'retrying upstream call to <*> attempt <NUM>', { category: 'dependency' }),
  tpl('WARN', 'slow query on <*> took <NUM> ms', { category: 'database' }),
]
const ERRORS: readonly Template[] = [
  tpl('ERROR', 'upstream timeout after <NUM> ms calling <*>', { category: 'timeout', errorCode: 'ETIMEDOUT' }),
  tpl('ERROR', 'connection pool exhausted with <NUM> waiting', { category: 'database', errorCode: 'POOL_EXHAUSTED' }),
  tpl('ERROR', 'payment declined: <*>', { category: 'payment' }),
  tpl('ERROR', 'connection refused by <*> port <NUM>', { category: 'network', errorCode: 'ECONNREFUSED' }),
  tpl('ERROR', 'deadlock detected on table <*>', { category: 'database' }),
  tpl('ERROR', 'POST /api/v1/payments 503 in <NUM> ms', { category: 'dependency', parsedFormat: 'access', httpStatus: 503 }),
]
const FATAL = tpl('FATAL', 'process crashed: OutOfMemoryError after <NUM> MB heap', { category: 'resource', errorCode: 'OOM' })

const WORDS = ['inventory-db', 'payments-api', 'user-4711', 'session:9f2c', 'orders', 'card_expired', 'auth-svc', 'redis-0', 'ledger', 'insufficient_funds']
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1']
const FUNCTIONS = ['handleRequest', 'flushBatch', 'renewLease', 'chargeCard', 'loadCart']
const PLACEHOLDER = /<NUM>|<\*>/g

interface ServiceProfile {
  name: string
  region: string
  hosts: string[]
  routine: Template[]
  warning: Template
  errors: Template[]
  /** Probabilities, cumulative: FATAL, then ERROR, then WARN; the rest is routine. */
  fatalBelow: number
  errorBelow: number
  warnBelow: number
}

function profile(i: number): ServiceProfile {
  const unhealthy = isUnhealthy(i)
  const region = REGIONS[i % REGIONS.length]!
  const name = serviceName(i)
  return {
    name,
    region,
    hosts: [0, 1, 2].map((h) => `ip-10-${i % 4}-${Math.floor(i / 4) % 256}-${h + 10}.${region}.compute.internal`),
    // Three routine templates, one warning and two error templates per service: ~6 pattern ids.
    routine: [ROUTINE[i % 6]!, ROUTINE[(i + 2) % 6]!, ROUTINE[(i + 4) % 6]!],
    warning: WARNINGS[i % 2]!,
    errors: [ERRORS[i % 6]!, ERRORS[(i + 1) % 6]!],
    fatalBelow: unhealthy ? 0.002 : 0,
    errorBelow: unhealthy ? 0.15 : 0.025,
    warnBelow: unhealthy ? 0.2 : 0.075,
  }
}

const NS_PER_MS = 1_000_000n

export interface EnrichedGeneratorOptions {
  seed?: number
  /** Event times are moved back by up to this much: records arrive slightly out of order, as from a fleet. */
  jitterMs?: number
}

export class EnrichedGenerator {
  readonly #rand: () => number
  readonly #jitterMs: number
  readonly #services: ServiceProfile[] = Array.from({ length: SERVICE_COUNT }, (_, i) => profile(i))

  constructor(opts: EnrichedGeneratorOptions = {}) {
    this.#rand = prng(opts.seed ?? 7)
    this.#jitterMs = opts.jitterMs ?? 2000
  }

  #int(n: number): number {
    return Math.floor(this.#rand() * n)
  }

  /** One record of the usual mix from a random service, its event time at or shortly before `atMs`. */
  next(atMs: number): EnrichedLog {
    const s = this.#services[this.#int(SERVICE_COUNT)]!
    const r = this.#rand()
    const template = r < s.fatalBelow ? FATAL : r < s.errorBelow ? s.errors[this.#int(2)]! : r < s.warnBelow ? s.warning : s.routine[this.#int(3)]!
    return this.#record(s, template, atMs - this.#int(this.#jitterMs + 1))
  }

  /** A FATAL record from one service, at exactly `atMs` (the time-to-alert probe). */
  fatal(serviceIndex: number, atMs: number): EnrichedLog {
    const s = this.#services[serviceIndex]
    if (s === undefined) throw new RangeError(`service index ${serviceIndex} outside 0..${SERVICE_COUNT - 1}`)
    return this.#record(s, FATAL, atMs)
  }

  #record(s: ServiceProfile, t: Template, atMs: number): EnrichedLog {
    const durationMs = 1 + this.#int(2000)
    const message = t.template.replace(PLACEHOLDER, (p) => (p === '<NUM>' ? String(this.#int(100_000)) : WORDS[this.#int(WORDS.length)]!))
    const isError = t.level === 'ERROR' || t.level === 'FATAL'
    const traced = this.#rand() < 0.6
    const ts = BigInt(atMs) * NS_PER_MS
    return {
      id: uuidv7(atMs),
      tenant: BENCH_TENANT,
      timestamp: ts,
      observed_timestamp: ts + BigInt(this.#int(50)) * NS_PER_MS,
      service: s.name,
      host: s.hosts[this.#int(s.hosts.length)]!,
      severity_text: t.level,
      severity_number: SEVERITY_NUMBER[t.level],
      message,
      trace_id: traced ? this.#hex(32) : null,
      span_id: traced ? this.#hex(16) : null,
      attributes: {
        region: s.region,
        'k8s.namespace': 'prod',
        'code.function': FUNCTIONS[this.#int(FUNCTIONS.length)]!,
        duration_ms: String(durationMs),
        ...(t.httpStatus !== null && { 'http.status_code': String(t.httpStatus) }),
      },
      resource: {},
      source: 'http',
      level: t.level,
      category: t.category,
      is_error: isError,
      pattern_id: t.patternId,
      pattern_aliases: [],
      template: t.template,
      classifier: 'rules',
      http_status: t.httpStatus,
      duration_ms: durationMs,
      user_id: this.#rand() < 0.3 ? `u-${this.#int(200_000)}` : null,
      session_id: null,
      error_code: t.errorCode,
      redacted: false,
      truncated: false,
      parsed_format: t.parsedFormat,
    }
  }

  #hex(chars: number): string {
    let s = ''
    while (s.length < chars) s += this.#int(0x10000000).toString(16).padStart(7, '0')
    return s.slice(0, chars)
  }
}

/** EnrichedLogs as Kafka messages: Avro through the registry (Confluent framing), keyed `tenant/service` as the enricher keys them. */
export class EnrichedEncoder {
  readonly #codec: AvroCodec<EnrichedLog>

  private constructor(codec: AvroCodec<EnrichedLog>) {
    this.#codec = codec
  }

  /** Registers the enriched-log schema under `subject` (as the enricher does for its topic). */
  static async create(registryUrl: string, subject: string): Promise<EnrichedEncoder> {
    return new EnrichedEncoder(await AvroCodec.register<EnrichedLog>(createRegistryClient(registryUrl), subject, loadAvsc('enriched-log.avsc')))
  }

  message(e: EnrichedLog): Message {
    return { key: `${e.tenant}/${e.service}`, value: this.#codec.encode(e) }
  }
}
