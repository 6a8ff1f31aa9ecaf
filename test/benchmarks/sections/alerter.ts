// Alerter, in one child process (`--target alerter`) with every rule kind enabled.
// 1. Throughput: a backlog of EnrichedLogs (enriched.ts: 1 000 services, ~3 % errors, 500 records
//    per second of event time ending now: 33 minutes for the default 1 000 000) drained by the alerter
//    alone, beside the pass-through consumer → producer on the same backlog. The pass-through
//    re-produces every record while the alerter produces only alerts, so a ratio above 1 is
//    expected: the figure says how far the rules are from costing more than a copy.
//    Rate = records the alerter applied (sluice_alerter_events_received_total) / time from ready
//    to the scrape that saw the last one. Its committed offsets must then reach the end of the
//    topic too: it commits only after writing a state checkpoint.
// 2. Time to alert: with the alerter caught up and background load flowing (enriched-load.ts in a
//    child), one FATAL probe every BENCH_ALERTER_PROBE_INTERVAL_MS, each for a service that never
//    logged a FATAL (a new incident, so no update interval or cooldown can hold it back), timed
//    from just before its produce to its firing `level` alert read back from the alerts topic.
//    The load is 40× the backlog's event rate per service: the rule thresholds below are set so
//    that over the default ~15 s live phase this jump alone trips nothing on the healthy services,
//    or each minute boundary the watermark crossed while probing would add an alert storm, and
//    runs would not compare.
import { rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Kafka } from 'kafkajs'
import { parseRules } from '@sluice/alerter'
import { ALERT_RULE_KINDS } from '@sluice/core'
import type { Alert } from '@sluice/core'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { passThroughBaseline } from '../baseline.js'
import { startChild } from '../child.js'
import type { SluiceChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { EnrichedEncoder, EnrichedGenerator, SERVICE_COUNT, isUnhealthy } from '../enriched.js'
import { fillEnrichedTopic } from '../fill.js'
import { isolatedEnv } from '../isolation.js'
import { benchKafka, benchProducer, topicRecordCount } from '../kafka.js'
import { pickSluice, scrape } from '../metrics.js'
import type { Samples } from '../metrics.js'
import { prng } from '../records.js'
import { cpuRows } from '../section.js'
import type { BenchContext, Section, SectionResult } from '../section.js'
import { percentile } from '../table.js'
import type { Row } from '../table.js'

const SECTION = 'alerter'
/** Event-time density of the backlog, all services together; the rule thresholds assume it. */
const BACKLOG_RECORDS_PER_EVENT_S = 500
const ALLOWED_LATENESS_MS = 30_000
const CHECKPOINT_INTERVAL_MS = 5000
const POLL_MS = 100
const READER_JOIN_TIMEOUT_MS = 30_000
const RECEIVED = 'sluice_alerter_events_received_total'
const ALERTS = 'sluice_alerter_alerts_total'
const FATAL_RULE = 'fatal'

// Every rule kind, tuned to the generated traffic (0.5 records/s per service in the backlog, 20 in
// the live phase): the unhealthy services (15 % errors) trip the windowed rules, the healthy ones
// (2.5 %) stay clear in both; new_pattern fires once per service and error template, as on a
// cold start. Absence keeps its 10 minutes of processing time: nothing falls silent here.
const RULES = {
  rules: [
    { id: 'error-rate', name: 'Error rate above 8 % over 5 min', kind: 'error_rate', thresholdRatio: 0.08, minRecords: 50, severity: 'critical' },
    { id: 'error-count', name: '25 errors in 5 min', kind: 'error_count', threshold: 25 },
    { id: 'error-spike', name: 'Errors doubled against the trailing 5 min', kind: 'spike', windowMs: 60_000, slideMs: 60_000, baselineMs: 300_000, increaseRatio: 1, minRecords: 20 },
    { id: 'absence', name: 'Service silent for 10 min', kind: 'absence', severity: 'critical' },
    { id: FATAL_RULE, name: 'FATAL log', kind: 'level', level: 'FATAL', severity: 'critical' },
    { id: 'timeouts', name: '12 timeouts, deadlocks or OOMs in 5 min', kind: 'pattern', regex: 'timeout|deadlock|OutOfMemory', threshold: 12 },
    { id: 'new-error-pattern', name: 'New error pattern', kind: 'new_pattern' },
  ],
}

/** Drain of the backlog by the alerter, timed from now (the child is ready) on its own counter. */
async function drainAlerter(ctx: BenchContext, child: SluiceChild, url: string, records: number) {
  const t0 = performance.now()
  const before = await scrape(url)
  const received0 = before[RECEIVED] ?? 0
  const endCpu = cpuWindow({ [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() }, 'bench (idle)')
  let received = received0
  let at = t0
  let lastGrowth = t0
  const deadline = t0 + ctx.config.e2eMaxWaitS * 1000
  while (received < records) {
    if (child.exit) throw new Error(`${child.name} exited (code ${child.exit.code})\n${child.tail()}`)
    if (performance.now() - lastGrowth > ctx.config.e2eSettleS * 1000 || performance.now() > deadline) {
      ctx.log(`alerter: applied count stuck at ${received}; giving up`)
      break
    }
    await sleep(POLL_MS)
    const sentAt = performance.now()
    const n = (await scrape(url))[RECEIVED]
    if (n !== undefined && n > received) {
      received = n
      at = sentAt
      lastGrowth = performance.now()
    }
  }
  const cpu = endCpu()
  const seconds = (at - t0) / 1000
  return { received0, received, seconds, recordsPerS: (received - received0) / seconds, cpu }
}

/** Records between the group's committed offsets and the topic's end, once it reaches 0 or time runs out. */
async function committedLag(kafka: Kafka, child: SluiceChild, groupId: string, topic: string, timeoutMs: number) {
  const admin = kafka.admin()
  await admin.connect()
  const t0 = performance.now()
  try {
    for (;;) {
      const ends = await admin.fetchTopicOffsets(topic)
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] })
      const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]))
      // No commit yet is offset -1: everything from the low watermark is lag.
      const lag = ends.reduce((sum, e) => sum + Number(e.high) - Math.max(at.get(e.partition) ?? -1, Number(e.low)), 0)
      const waitedMs = performance.now() - t0
      if (lag === 0 || waitedMs > timeoutMs) return { lag, waitedMs }
      if (child.exit) throw new Error(`${child.name} exited (code ${child.exit.code})\n${child.tail()}`)
      await sleep(250)
    }
  } finally {
    await admin.disconnect()
  }
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/** `n` distinct healthy services in a fixed random order: none logged a FATAL before its probe. */
function probeServices(n: number): number[] {
  const healthy = Array.from({ length: SERVICE_COUNT }, (_, i) => i).filter((i) => !isUnhealthy(i))
  if (n > healthy.length) throw new Error(`BENCH_ALERTER_PROBES=${n}: at most ${healthy.length} (one per healthy service)`)
  const rand = prng(2024)
  for (let i = healthy.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[healthy[i], healthy[j]] = [healthy[j]!, healthy[i]!]
  }
  return healthy.slice(0, n)
}

interface Probe {
  service: string
  id: string
  sentAt: number
  ackedAt?: number
  alertAt?: number
}

async function timeToAlert(ctx: BenchContext, alerter: SluiceChild, env: ReturnType<typeof isolatedEnv>, services: readonly number[]) {
  const { config } = ctx
  const kafka = benchKafka(ctx.infra)
  const topic = env.TOPIC_LOGS_ENRICHED
  const alertCodec = await AvroCodec.register<Alert>(createRegistryClient(ctx.infra.registryUrl), `${env.TOPIC_ALERTS}-value`, loadAvsc('alert.avsc'))
  const encoder = await EnrichedEncoder.create(ctx.infra.registryUrl, `${topic}-value`)
  const gen = new EnrichedGenerator({ seed: 99 })
  const probes: Probe[] = []
  const pending = new Map<string, Probe>()
  let readerError: Error | undefined

  const reader = kafka.consumer({ groupId: `${env.ALERTER_GROUP_ID}.bench-reader`, maxWaitTimeInMs: 100 })
  const producer = benchProducer(kafka)
  let load: SluiceChild | undefined
  try {
    await producer.connect()
    await reader.connect()
    const joined = new Promise<void>((resolve) => reader.on(reader.events.GROUP_JOIN, () => resolve()))
    reader.on(reader.events.CRASH, (e) => {
      readerError = e.payload.error
    })
    // From the beginning: the backlog's alerts are read (and ignored) before the first probe.
    await reader.subscribe({ topic: env.TOPIC_ALERTS, fromBeginning: true })
    await reader.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        const at = performance.now()
        const alert = await alertCodec.decode(message.value)
        if (alert.rule_id !== FATAL_RULE || alert.status !== 'firing') return
        const probe = pending.get(alert.service)
        if (probe === undefined || !alert.sample_log_ids.includes(probe.id)) return
        probe.alertAt = at
        pending.delete(alert.service)
      },
    })
    await within(joined, READER_JOIN_TIMEOUT_MS, 'the alerts reader did not join its group')

    if (config.alerterLoadRecordsPerS > 0) {
      ctx.log(`alerter: background load ${config.alerterLoadRecordsPerS.toLocaleString('en-US')} records/s`)
      load = await startChild({
        name: 'load generator',
        targets: '',
        expect: ['enriched-load'],
        script: ['test/benchmarks/enriched-load.ts'],
        env: { KAFKA_BROKERS: env.KAFKA_BROKERS, SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL, LOAD_TOPIC: topic, LOAD_RECORDS_PER_S: String(config.alerterLoadRecordsPerS) },
        startTimeoutMs: config.childStartTimeoutMs,
        stopTimeoutMs: config.childStopTimeoutMs,
      })
    }
    const check = () => {
      for (const c of [alerter, load]) if (c?.exit) throw new Error(`${c.name} exited (code ${c.exit.code})\n${c.tail()}`)
      if (readerError) throw new Error(`the alerts reader crashed: ${readerError.message}`)
    }
    // Warm-up: the first live records move the watermark past the backlog, closing its windows.
    for (const until = performance.now() + config.warmupS * 1000; performance.now() < until; ) {
      check()
      await sleep(100)
    }

    ctx.log(`alerter: ${services.length} FATAL probes, one every ${config.alerterProbeIntervalMs} ms`)
    const in0 = await topicRecordCount(kafka, topic)
    const endCpu = cpuWindow({ [alerter.name]: alerter.pid, ...(load && { [load.name]: load.pid }), 'kafka broker': kafkaBrokerPid() }, 'bench (probes, alert reader)')
    const t0 = performance.now()
    for (const [k, index] of services.entries()) {
      check()
      const record = gen.fatal(index, Date.now())
      const probe: Probe = { service: record.service, id: record.id, sentAt: performance.now() }
      probes.push(probe)
      pending.set(probe.service, probe)
      await producer.send({ topic, messages: [encoder.message(record)], acks: -1 })
      probe.ackedAt = performance.now()
      await sleep(Math.max(0, t0 + (k + 1) * config.alerterProbeIntervalMs - performance.now()))
    }
    const giveUpAt = performance.now() + config.alerterAlertTimeoutMs
    while (pending.size > 0 && performance.now() < giveUpAt) {
      check()
      await sleep(50)
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = endCpu()
    const in1 = await topicRecordCount(kafka, topic)
    return { probes, missing: pending.size, seconds, loadRecordsPerS: (in1 - in0 - probes.length) / seconds, cpu }
  } finally {
    await load?.stop()
    await reader.disconnect().catch(() => undefined)
    await producer.disconnect().catch(() => undefined)
  }
}

/** `sluice_alerter_alerts_total` by rule kind and transition, e.g. `level fired`. */
function alertsByKind(samples: Samples): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(samples)) {
    const m = /^sluice_alerter_alerts_total\{rule_kind="([^"]+)",transition="([^"]+)"\}$/.exec(k)
    if (m && v > 0) out[`${m[1]} ${m[2]}`] = v
  }
  return out
}

export const alerterSection: Section = {
  name: 'alerter',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    // The rules are checked here, with the service's own parser, before anything is started.
    const kinds = new Set(parseRules(JSON.stringify(RULES)).rules.map((r) => r.kind))
    const uncovered = ALERT_RULE_KINDS.filter((k) => !kinds.has(k))
    if (uncovered.length > 0) throw new Error(`the bench rules miss the kinds ${uncovered.join(', ')}`)
    const services = probeServices(Math.floor(config.alerterProbes))
    const rulesFile = path.join(config.outDir, `alerter-rules-${config.runId}.json`)
    writeFileSync(rulesFile, `${JSON.stringify(RULES, null, 2)}\n`)
    const env = {
      ...isolatedEnv(ctx, 'alerter', path.join(config.outDir, `alerter-${config.runId}`)),
      ALERTER_RULES_FILE: rulesFile,
      ALERTER_ALLOWED_LATENESS_MS: String(ALLOWED_LATENESS_MS),
      ALERTER_CHECKPOINT_INTERVAL_MS: String(CHECKPOINT_INTERVAL_MS),
    }
    const records = config.alerterRecords
    const topic = env.TOPIC_LOGS_ENRICHED
    try {
      await fillEnrichedTopic(ctx, topic, records, { endMs: Date.now(), spanMs: Math.round((records / BACKLOG_RECORDS_PER_EVENT_S) * 1000) })

      ctx.log('alerter: pass-through baseline')
      const baseline = await passThroughBaseline(ctx, { env, from: topic, group: `${env.ALERTER_GROUP_ID}.passthrough`, records })

      ctx.log('alerter: alerter alone, every rule kind')
      const child = await startChild({
        name: 'sluice (alerter)',
        targets: 'alerter',
        expect: ['alerter'],
        env,
        nodeArgs: config.childNodeArgs,
        startTimeoutMs: config.childStartTimeoutMs,
        stopTimeoutMs: config.childStopTimeoutMs,
      })
      try {
        const url = child.urls.alerter!
        const drained = await drainAlerter(ctx, child, url, records)
        const afterDrain = await scrape(url)
        const committed = await committedLag(benchKafka(ctx.infra), child, env.ALERTER_GROUP_ID, topic, 3 * CHECKPOINT_INTERVAL_MS + 10_000)
        const live = await timeToAlert(ctx, child, env, services)
        const end = await scrape(url)

        const timed = live.probes.filter((p) => p.alertAt !== undefined)
        const fromProduce = timed.map((p) => p.alertAt! - p.sentAt).sort((a, b) => a - b)
        const fromAck = timed.map((p) => p.alertAt! - (p.ackedAt ?? p.sentAt)).sort((a, b) => a - b)
        const produceAck = live.probes.filter((p) => p.ackedAt !== undefined).map((p) => p.ackedAt! - p.sentAt).sort((a, b) => a - b)
        const load = config.alerterLoadRecordsPerS > 0 ? `${(config.alerterLoadRecordsPerS / 1000).toFixed(0)} k records/s load` : 'no load'
        const rows: Row[] = [
          { section: SECTION, metric: `records/s (decode → ${RULES.rules.length} rules, every kind)`, value: drained.recordsPerS, unit: 'records/s', target: { op: '>=', value: 50_000 } },
          { section: SECTION, metric: 'pass-through consumer → producer records/s', value: baseline.recordsPerS, unit: 'records/s' },
          { section: SECTION, metric: 'alerter / pass-through', value: drained.recordsPerS / baseline.recordsPerS, unit: '×', decimals: 2 },
          { section: SECTION, metric: 'missing (in − applied)', value: records - drained.received, unit: 'records', target: { op: '<=', value: 0 } },
          { section: SECTION, metric: 'lag after the drain (committed offsets)', value: committed.lag, unit: 'records', target: { op: '<=', value: 0 } },
          { section: SECTION, metric: 'alert states produced from the backlog', value: afterDrain[ALERTS] ?? 0, unit: 'alerts' },
          { section: SECTION, metric: `time to alert p50 (FATAL produce → alert read, ${load})`, value: percentile(fromProduce, 50), unit: 'ms', decimals: 0 },
          { section: SECTION, metric: `time to alert p99 (${timed.length} probes)`, value: percentile(fromProduce, 99), unit: 'ms', decimals: 0 },
          { section: SECTION, metric: 'probes without an alert', value: live.missing, unit: 'probes', target: { op: '<=', value: 0 } },
          { section: SECTION, metric: 'background load achieved', value: live.loadRecordsPerS, unit: 'records/s' },
          { section: SECTION, metric: 'alert states produced in the live phase', value: (end[ALERTS] ?? 0) - (afterDrain[ALERTS] ?? 0), unit: 'alerts' },
          ...cpuRows(`${SECTION} (drain)`, drained.cpu),
          ...cpuRows(`${SECTION} (pass-through)`, baseline.cpu),
          ...cpuRows(`${SECTION} (time to alert)`, live.cpu),
        ]
        const ms = (xs: number[]) => ({ p50: percentile(xs, 50), p90: percentile(xs, 90), p99: percentile(xs, 99), max: xs.at(-1) ?? NaN })
        return {
          rows,
          detail: {
            records,
            rules: RULES.rules,
            baseline,
            drained,
            committed,
            timeToAlertMs: { fromProduce: ms(fromProduce), fromAck: ms(fromAck), produceAck: ms(produceAck), samples: fromProduce },
            live: { ...live, probes: live.probes.length },
            alerts: { afterDrain: alertsByKind(afterDrain), end: alertsByKind(end) },
            metrics: pickSluice(end),
          },
        }
      } finally {
        await child.stop()
      }
    } finally {
      if (!config.keepData) rmSync(rulesFile, { force: true })
    }
  },
}
