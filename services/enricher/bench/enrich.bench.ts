// Micro-benchmark of the enricher's hot path, one core, no Kafka:
//   1. the template miner (and the reference Drain) alone over the Content of the eight Loghub-2k
//      datasets (16 000 lines)
//   2. the full enrich() over those lines mixed with generated structured lines (JSON, logfmt,
//      nginx access, syslog) — about a third of the records
// Run: node --conditions=source --import tsx services/enricher/bench/enrich.bench.ts
import type { LogEvent } from '@sluice/core'
import { createEnricher, Drain, TemplateMiner } from '../src/index.js'
import { LOGHUB_DATASETS, loadLoghub } from '../src/loghub.js'

const ROUNDS = 7
const NS = 1_763_899_200_000_000_000n

// Deterministic pseudo-random numbers (mulberry32) so every run sees the same mix.
function rng(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function structuredLines(count: number): string[] {
  const r = rng(42)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T
  const n = (max: number) => Math.floor(r() * max)
  const ip = () => `10.${n(255)}.${n(255)}.${n(255)}`
  const paths = ['/api/users/{id}', '/api/orders/{id}/items', '/health', '/api/search?q=shoes', '/static/app.{id}.js', '/api/payments']
  const make = [
    () => JSON.stringify({ level: pick(['info', 'warn', 'error']), time: 1_763_899_200_000 + n(1e6), pid: n(9999), hostname: 'web-1', msg: pick(['request completed', 'user logged in', 'cache miss for key user:' + n(1e5), 'payment failed: card_declined', 'query took too long']), user_id: `u-${n(1e6)}`, duration_ms: n(900), req: { method: 'GET', url: `/api/users/${n(1e4)}` } }),
    () => `level=${pick(['info', 'warn', 'error'])} ts=2025-11-23T12:00:${String(n(60)).padStart(2, '0')}Z msg="${pick(['dial tcp ' + ip() + ':5432: connect: connection refused', 'request served', 'retrying upstream'])}" duration=${n(500)}ms request_id=${n(1e9).toString(16)}`,
    () => `${ip()} - - [23/Nov/2025:12:00:${String(n(60)).padStart(2, '0')} +0000] "${pick(['GET', 'POST'])} ${pick(paths).replace('{id}', String(n(1e5)))} HTTP/1.1" ${pick([200, 200, 200, 201, 304, 404, 500, 503])} ${n(50_000)} "-" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36" 0.${String(n(999)).padStart(3, '0')}`,
    () => `<${pick([13, 30, 38, 86, 131])}>Nov 23 12:00:${String(n(60)).padStart(2, '0')} host-${n(9)} sshd[${n(30_000)}]: ${pick(['Failed password for invalid user admin from ' + ip() + ' port ' + n(65_000) + ' ssh2', 'Accepted publickey for deploy from ' + ip() + ' port ' + n(65_000) + ' ssh2'])}`,
  ]
  return Array.from({ length: count }, () => pick(make)())
}

function event(message: string, i: number): LogEvent {
  return {
    id: String(i), tenant: 'bench', timestamp: NS, observed_timestamp: NS, service: 'bench', host: null,
    severity_text: 'INFO', severity_number: 9, message, trace_id: null, span_id: null, attributes: {}, resource: {}, source: 'kafka',
  }
}

function best(label: string, records: number, run: () => void): number {
  let rate = 0
  for (let round = 0; round < ROUNDS; round++) {
    const start = process.hrtime.bigint()
    run()
    rate = Math.max(rate, records / (Number(process.hrtime.bigint() - start) / 1e9))
  }
  console.log(`${label.padEnd(44)} ${Math.round(rate).toLocaleString('en-US').padStart(10)} records/s`)
  return rate
}

const loghub = LOGHUB_DATASETS.flatMap((d) => loadLoghub(d).content)
const mixed = [...loghub, ...structuredLines(8_000)]
const events = mixed.map(event)

console.log(`${loghub.length} Loghub lines, ${mixed.length - loghub.length} structured lines, best of ${ROUNDS} rounds, node ${process.version}`)
best('TemplateMiner.add (production, Loghub content)', loghub.length, () => {
  const miner = new TemplateMiner()
  for (const line of loghub) miner.add(line)
})
best('Drain.add (reference, default masks, Loghub content)', loghub.length, () => {
  const drain = new Drain()
  for (const line of loghub) drain.add(line)
})
best('enrich() (Loghub + structured mix)', events.length, () => {
  const { enrich } = createEnricher()
  for (const e of events) enrich(e)
})
