// Live fan-out under load: 1 000 WebSocket clients with mixed server-side filters while 5 000
// logs/s flow through the gateway and the enricher. Reports delivered messages/s, drops, and the
// latency from the gateway accepting a record (its observed_timestamp) to a client receiving it.
import { setTimeout as sleep } from 'node:timers/promises'
import WebSocket from 'ws'
import { startChild } from '../child.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import { isolatedEnv } from '../isolation.js'
import { ndjsonBodies, SERVICES } from '../records.js'
import { cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import { percentile } from '../table.js'
import type { Row } from '../table.js'

const SECTION = 'ws fan-out'
const CLIENTS = Number(process.env.BENCH_WS_CLIENTS ?? 1000)
const LOGS_PER_S = Number(process.env.BENCH_WS_LOGS_PER_S ?? 5000)
const TICK_MS = 100
// Latency is read from one message in SAMPLE_EVERY per client: parsing every frame would make
// the bench process, not the service, the bottleneck.
const SAMPLE_EVERY = 10
const OBSERVED = /"observed_timestamp":"([^"]+)"/

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
    const env = { ...isolatedEnv(ctx, 'ws', `${config.outDir}/ws-${config.runId}`), WS_PORT: '0', WS_MAX_CLIENTS: String(CLIENTS + 10), ENRICHER_FLUSH_INTERVAL_MS: '20' }
    const child = await startChild({
      name: 'sluice (gateway, enricher, ws-fanout)',
      targets: 'gateway,enricher,ws-fanout',
      expect: ['gateway', 'enricher', 'ws-fanout'],
      env,
      nodeArgs: config.childNodeArgs,
      startTimeoutMs: config.childStartTimeoutMs,
      stopTimeoutMs: config.childStopTimeoutMs,
    })
    const sockets: WebSocket[] = []
    try {
      const wsUrl = `${child.urls['ws-fanout']!.replace(/^http/, 'ws')}/v1/stream`
      let received = 0
      let dropped = 0
      let counting = false
      const latencies: number[] = []
      ctx.log(`ws: connecting ${CLIENTS} clients`)
      for (let i = 0; i < CLIENTS; i++) {
        const ws = new WebSocket(wsUrl)
        sockets.push(ws)
        let n = 0
        ws.on('message', (data) => {
          const text = data.toString()
          if (!counting) return
          if (text.startsWith('{"type":"log"')) {
            received++
            if (n++ % SAMPLE_EVERY === 0) {
              const m = OBSERVED.exec(text)
              if (m?.[1]) latencies.push(Date.now() - Date.parse(`${m[1].slice(0, 23)}Z`))
            }
          } else if (text.startsWith('{"type":"dropped"')) {
            dropped += (JSON.parse(text) as { count: number }).count
          }
        })
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve())
          ws.once('error', reject)
        })
        ws.send(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: filtersFor(i) }))
      }

      const perTick = Math.round((LOGS_PER_S * TICK_MS) / 1000)
      const bodies = ndjsonBodies(20, perTick, config.recordBytes)
      const gw = `${child.urls.gateway!}/v1/logs`
      const postOne = async (k: number) => {
        const res = await fetch(gw, { method: 'POST', body: bodies[k % bodies.length]!.body, headers: { 'content-type': 'application/x-ndjson' } })
        if (res.status !== 200) throw new Error(`gateway answered ${res.status}`)
      }
      // Warm-up: the first records of a run pay for JIT and connections.
      for (let k = 0; k < 10; k++) await postOne(k)
      await sleep(2000)

      ctx.log(`ws: ${LOGS_PER_S} logs/s for ${config.gatewayDurationS} s`)
      counting = true
      const endCpu = cpuWindow({ [child.name]: child.pid, 'kafka broker': kafkaBrokerPid() })
      const t0 = performance.now()
      const ticks = Math.round((config.gatewayDurationS * 1000) / TICK_MS)
      const inFlight: Promise<void>[] = []
      for (let k = 0; k < ticks; k++) {
        inFlight.push(postOne(k))
        const next = t0 + (k + 1) * TICK_MS
        await sleep(Math.max(0, next - performance.now()))
      }
      await Promise.all(inFlight)
      await sleep(1000)
      counting = false
      const seconds = (performance.now() - t0) / 1000
      const cpu = endCpu()
      latencies.sort((a, b) => a - b)
      const rows: Row[] = [
        { section: SECTION, metric: 'clients (mixed filters)', value: CLIENTS, unit: 'clients' },
        { section: SECTION, metric: 'logs/s posted to the gateway', value: (ticks * perTick) / (ticks * TICK_MS / 1000), unit: 'records/s' },
        { section: SECTION, metric: 'messages delivered/s', value: received / seconds, unit: 'msgs/s' },
        { section: SECTION, metric: 'dropped (notified to clients)', value: dropped, unit: 'msgs' },
        { section: SECTION, metric: 'gateway accept → client receive p50', value: percentile(latencies, 50), unit: 'ms' },
        { section: SECTION, metric: 'gateway accept → client receive p99', value: percentile(latencies, 99), unit: 'ms', target: { op: '<=', value: 100 } },
        ...cpuRows(SECTION, cpu),
      ]
      return { rows, detail: { received, dropped, samples: latencies.length } }
    } finally {
      for (const s of sockets) s.terminate()
      await child.stop()
    }
  },
}
