// Live fan-out under load: 1 000 WebSocket clients with mixed server-side filters while 5 000
// logs/s flow through the gateway and the enricher. Reports delivered messages/s, drops, and the
// latency from the gateway accepting a record (its observed_timestamp) to a client receiving it.
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { startChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { isolatedEnv } from '../isolation.js'
import { ndjsonBodies, SERVICES } from '../records.js'
import { cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import { percentile } from '../table.js'
import { histogramQuantile, scrape } from '../metrics.js'
import type { Row } from '../table.js'

const SECTION = 'ws fan-out'
const CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000)
const LOGS_PER_S = Number(process.env.BENCH_WS_LOGS_PER_S ?? 5000)
const TICK_MS = 100
// Latency is read from one message in SAMPLE_EVERY per client: parsing every frame would make
// the bench process, not the service, the bottleneck.
const SAMPLE_EVERY = 10
const CLIENT_THREADS = Number(process.env.BENCH_WS_CLIENT_THREADS ?? 2)
// At the measured rate before measuring: for the first ~4 s the three processes' JIT, the sockets'
// buffers and the templates seen first put deliveries seconds behind. What is measured is the
// steady state a dashboard meets on a service that has long been running.
const WARMUP_S = Number(process.env.BENCH_WS_WARMUP_S ?? 8)

/** ws-clients.mjs: its workerData and what it reports at 'stop'. */
interface WsClientsInput {
  url: string
  filters: object[]
  sampleEvery: number
}
interface WsClientsResult {
  received: number
  dropped: number
  latencies: number[]
}

function filtersFor(i: number): object {
  const service = SERVICES[i % SERVICES.length]
  if (i % 3 === 0) return { services: [service] }
  if (i % 3 === 1) return { services: [service], minLevel: 'WARN' }
  return { minLevel: 'ERROR' }
}

export const wsFanout: Section = {
  name: 'ws',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const env = { ...isolatedEnv(ctx, 'ws', `${config.outDir}/ws-${config.runId}`), WS_PORT: '0', WS_MAX_CLIENTS: String(CLIENTS + 10) }
    // One process per role, as deployed: the fan-out's event loop is not shared with enrichment.
    const childOpts = { env, nodeArgs: config.childNodeArgs, startTimeoutMs: config.childStartTimeoutMs, stopTimeoutMs: config.childStopTimeoutMs }
    const ingest = await startChild({ name: 'sluice (gateway, enricher)', targets: 'gateway,enricher', expect: ['gateway', 'enricher'], ...childOpts })
    let child: Awaited<ReturnType<typeof startChild>>
    try {
      child = await startChild({ name: 'sluice (ws-fanout)', targets: 'ws-fanout', expect: ['ws-fanout'], ...childOpts })
    } catch (err) {
      await ingest.stop()
      throw err
    }
    const workers: Worker[] = []
    try {
      const wsUrl = `${child.urls['ws-fanout']!.replace(/^http/, 'ws')}/v1/stream`
      ctx.log(`ws: connecting ${CLIENTS} clients from ${CLIENT_THREADS} threads`)
      for (let t = 0; t < CLIENT_THREADS; t++) {
        const filters: object[] = []
        for (let i = t; i < CLIENTS; i += CLIENT_THREADS) filters.push(filtersFor(i))
        const input: WsClientsInput = { url: wsUrl, filters, sampleEvery: SAMPLE_EVERY }
        const w = new Worker(new URL('../ws-clients.mjs', import.meta.url), { workerData: input })
        workers.push(w)
        await new Promise<void>((resolve, reject) => {
          w.once('message', () => resolve())
          w.once('error', reject)
        })
      }
      const broadcast = (m: string) => {
        for (const w of workers) w.postMessage(m)
      }

      const perTick = Math.round((LOGS_PER_S * TICK_MS) / 1000)
      const bodies = ndjsonBodies(20, perTick, config.recordBytes)
      const gw = `${ingest.urls.gateway!}/v1/logs`
      const postOne = async (k: number) => {
        const res = await fetch(gw, { method: 'POST', body: bodies[k % bodies.length]!.body, headers: { 'content-type': 'application/x-ndjson' } })
        if (res.status !== 200) throw new Error(`gateway answered ${res.status}`)
      }
      /** Posts LOGS_PER_S for `seconds`, one body every tick; resolves when every post was answered. */
      const load = async (seconds: number) => {
        const t0 = performance.now()
        const ticks = Math.round((seconds * 1000) / TICK_MS)
        const inFlight: Promise<void>[] = []
        for (let k = 0; k < ticks; k++) {
          inFlight.push(postOne(k))
          await sleep(Math.max(0, t0 + (k + 1) * TICK_MS - performance.now()))
        }
        await Promise.all(inFlight)
        return ticks
      }
      ctx.log(`ws: warming up ${WARMUP_S} s at ${LOGS_PER_S} logs/s`)
      await load(WARMUP_S)
      await sleep(500)

      ctx.log(`ws: ${LOGS_PER_S} logs/s for ${config.gatewayDurationS} s`)
      const before = await scrape(child.urls['ws-fanout']!)
      broadcast('start')
      const endCpu = cpuWindow({ [ingest.name]: ingest.pid, [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() })
      const t0 = performance.now()
      const ticks = await load(config.gatewayDurationS)
      await sleep(1000)
      const results = await Promise.all(
        workers.map((w) => new Promise<WsClientsResult>((resolve) => {
          w.once('message', (r: WsClientsResult) => resolve(r))
          w.postMessage('stop')
        })),
      )
      const received = results.reduce((n, r) => n + r.received, 0)
      const dropped = results.reduce((n, r) => n + r.dropped, 0)
      const latencies = results.flatMap((r) => r.latencies)
      const seconds = (performance.now() - t0) / 1000
      const cpu = endCpu()
      const after = await scrape(child.urls['ws-fanout']!)
      // Inside ws-fanout: from the gateway's observed time to the frame queued on the clients.
      const queued = (q: number) => (histogramQuantile(before, after, 'sluice_ws_delivery_latency_seconds', q) ?? NaN) * 1000
      // Of that, the Kafka hop: from the enricher producing a record to ws-fanout reading it.
      const kafkaHop = (q: number) => (histogramQuantile(before, after, 'sluice_ws_enriched_age_seconds', q) ?? NaN) * 1000
      latencies.sort((a, b) => a - b)
      const rows: Row[] = [
        { section: SECTION, metric: 'clients (mixed filters)', value: CLIENTS, unit: 'clients' },
        { section: SECTION, metric: 'logs/s posted to the gateway', value: (ticks * perTick) / (ticks * TICK_MS / 1000), unit: 'records/s' },
        { section: SECTION, metric: 'messages delivered/s', value: received / seconds, unit: 'msgs/s' },
        { section: SECTION, metric: 'dropped (notified to clients)', value: dropped, unit: 'msgs' },
        { section: SECTION, metric: 'gateway accept → client receive p50', value: percentile(latencies, 50), unit: 'ms' },
        { section: SECTION, metric: 'gateway accept → client receive p99', value: percentile(latencies, 99), unit: 'ms', target: { op: '<=', value: 100 } },
        { section: SECTION, metric: '  gateway accept → queued in ws-fanout p50 (buckets)', value: queued(0.5), unit: 'ms' },
        { section: SECTION, metric: '  gateway accept → queued in ws-fanout p99 (buckets)', value: queued(0.99), unit: 'ms' },
        { section: SECTION, metric: '    of which enricher produced → read by ws-fanout p50 (buckets)', value: kafkaHop(0.5), unit: 'ms' },
        { section: SECTION, metric: '    of which enricher produced → read by ws-fanout p99 (buckets)', value: kafkaHop(0.99), unit: 'ms' },
        ...cpuRows(SECTION, cpu),
      ]
      return { rows, detail: { received, dropped, samples: latencies.length } }
    } finally {
      await Promise.all(workers.map((w) => w.terminate()))
      await child.stop()
      await ingest.stop()
    }
  },
}
