// Ingest protocols: one gateway child, each protocol's load in turn over the same connections for
// the same time, from the same generated records encoded the way that protocol's clients send
// them (protocol-bodies.ts). A protocol's figure is the records that reached the topic during its
// window per second; the headline is its ratio to the native NDJSON path in the same run.
// Syslog has no answers: its TCP connections write octet-counted frames as fast as the gateway
// reads them (TCP backpressure), and its window ends when the last written record is in Kafka.
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { startChild } from '../child.js'
import { cpuMicrosPer, cpuWindow } from '../cpu.js'
import { benchKafka, topicRecordCount } from '../kafka.js'
import { isolatedEnv } from '../isolation.js'
import { runLoad } from '../loadgen.js'
import type { LoadResult, RequestBody } from '../loadgen.js'
import { esBulkBodies, lokiProtobufBodies, otlpJsonBodies, otlpProtobufBodies, syslogChunks } from '../protocol-bodies.js'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'
import { freePort } from '../../infra/ports.js'

const SECTION = 'ingest protocols'
export const PROTOCOL_TARGET_RATIO = 0.8

interface HttpProtocol {
  name: string
  path: string
  contentType: string
  bodies: RequestBody[]
}

interface Measured {
  name: string
  records: number
  elapsedS: number
  cpuUsPerRecord: number
  failures: number
  firstError?: string
  acknowledged: number
}

/** Writes `chunks` over `connections` TCP connections until the deadline, honouring backpressure. */
async function syslogLoad(port: number, chunks: readonly RequestBody[], connections: number, durationMs: number): Promise<number> {
  const deadline = performance.now() + durationMs
  let written = 0
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const socket = net.connect(port, '127.0.0.1')
      await once(socket, 'connect')
      let next = c * 7
      while (performance.now() < deadline) {
        const chunk = chunks[next++ % chunks.length]!
        if (!socket.write(chunk.body)) await once(socket, 'drain')
        written += chunk.records
      }
      socket.end()
      await once(socket, 'close')
    }),
  )
  return written
}

async function waitForCount(count: () => Promise<number>, target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const n = await count()
    if (n >= target || Date.now() > deadline) return n
    await new Promise((r) => setTimeout(r, 50))
  }
}

export const ingestProtocols: Section = {
  name: 'protocols',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const syslogPort = await freePort()
    const env = { ...isolatedEnv(ctx, 'proto', path.join(config.outDir, `proto-${config.runId}`)), SYSLOG_TCP_PORT: String(syslogPort) }
    const kafka = benchKafka(ctx.infra)
    const inTopic = () => topicRecordCount(kafka, env.TOPIC_LOGS_RAW)
    ctx.log('protocols: encoding the bodies of every protocol')
    const protocols: HttpProtocol[] = [
      { name: 'native NDJSON', path: '/v1/logs', contentType: 'application/x-ndjson', bodies: [...ctx.bodies] },
      { name: 'OTLP protobuf', path: '/v1/logs', contentType: 'application/x-protobuf', bodies: otlpProtobufBodies(ctx.bodies) },
      { name: 'OTLP JSON', path: '/v1/logs', contentType: 'application/json', bodies: otlpJsonBodies(ctx.bodies) },
      { name: 'Loki protobuf', path: '/loki/api/v1/push', contentType: 'application/x-protobuf', bodies: lokiProtobufBodies(ctx.bodies) },
      // As Filebeat and Logstash ask: only each item's status (and error) in the answer.
      { name: 'Elasticsearch _bulk', path: '/_bulk?filter_path=errors,items.*.error,items.*.status', contentType: 'application/x-ndjson', bodies: esBulkBodies(ctx.bodies) },
    ]
    const syslog = syslogChunks(ctx.bodies)
    const durationMs = config.protocolDurationS * 1000
    const warmupMs = Math.min(config.warmupS, 2) * 1000

    ctx.log('protocols: starting the gateway child')
    const child = await startChild({ name: 'gateway', targets: 'gateway', expect: ['gateway'], env, nodeArgs: config.childNodeArgs, startTimeoutMs: config.childStartTimeoutMs, stopTimeoutMs: config.childStopTimeoutMs })
    const measured: Measured[] = []
    const loads: Record<string, LoadResult> = {}
    try {
      const url = child.urls.gateway!
      for (const p of protocols) {
        const load = { url, path: p.path, bodies: p.bodies, connections: config.connections, headers: { 'content-type': p.contentType }, accepted: 'records' as const }
        if (warmupMs > 0) await runLoad({ ...load, durationMs: warmupMs })
        ctx.log(`protocols: ${p.name} for ${config.protocolDurationS} s`)
        const before = await inTopic()
        const endCpu = cpuWindow({ gateway: child.pid })
        const r = await runLoad({ ...load, durationMs })
        const cpu = endCpu()
        const records = (await inTopic()) - before
        loads[p.name] = r
        measured.push({ name: p.name, records, elapsedS: r.elapsedS, cpuUsPerRecord: cpuMicrosPer(cpu, ['gateway'], records), failures: r.non2xx + r.networkErrors, acknowledged: r.accepted, ...(r.firstError !== undefined && { firstError: r.firstError }) })
      }

      if (warmupMs > 0) {
        const warm = await inTopic()
        const written = await syslogLoad(syslogPort, syslog, config.connections, warmupMs)
        await waitForCount(inTopic, warm + written, 60_000)
      }
      ctx.log(`protocols: syslog TCP for ${config.protocolDurationS} s`)
      const before = await inTopic()
      const endCpu = cpuWindow({ gateway: child.pid })
      const t0 = performance.now()
      const written = await syslogLoad(syslogPort, syslog, config.connections, durationMs)
      const after = await waitForCount(inTopic, before + written, 60_000)
      const elapsedS = (performance.now() - t0) / 1000
      const cpu = endCpu()
      const records = after - before
      measured.push({ name: 'syslog TCP (RFC 5424, octet-counted)', records, elapsedS, cpuUsPerRecord: cpuMicrosPer(cpu, ['gateway'], records), failures: 0, acknowledged: written })
      if (child.exit) throw new Error(`gateway exited during the run (code ${child.exit.code})\n${child.tail()}`)
    } finally {
      await child.stop()
    }

    const native = measured[0]!.records / measured[0]!.elapsedS
    const rows: Row[] = []
    for (const m of measured) {
      const perS = m.records / m.elapsedS
      rows.push({ section: SECTION, metric: `${m.name} records/s`, value: perS, unit: 'records/s' })
      if (m !== measured[0]) rows.push({ section: SECTION, metric: `${m.name} / native`, value: perS / native, unit: '×', decimals: 2, target: { op: '>=', value: PROTOCOL_TARGET_RATIO } })
      rows.push({ section: SECTION, metric: `${m.name} gateway CPU per record`, value: m.cpuUsPerRecord, unit: 'µs/record', decimals: 1 })
      // Every record a client was told is in (2xx, or written to syslog) must be in the topic.
      rows.push({ section: SECTION, metric: `${m.name} sent − stored`, value: m.acknowledged - m.records, unit: 'records' })
      if (m.failures > 0) rows.push({ section: SECTION, metric: `${m.name} failed requests`, value: m.failures, unit: 'requests' })
    }
    return { rows, detail: { measured, loads } }
  },
}
