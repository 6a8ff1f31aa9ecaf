// Ingest protocols: one gateway child, each protocol's load in turn over the same connections, from
// the same generated records encoded the way that protocol's clients send them
// (protocol-bodies.ts). The time is cut into rounds (BENCH_PROTOCOL_ROUNDS), every protocol once a
// round, the order reversed every other round, so that a slow spell of the machine falls on all of
// them rather than on whichever ran then. A protocol's figure is the records that reached the topic
// during its windows per second of them; the headline is its ratio to the native NDJSON path.
// Syslog and GELF over TCP have no answers: their connections write frames as fast as the gateway
// reads them (TCP backpressure), and a window ends when the last written record is in Kafka.
// OTLP/gRPC sends the OTLP protobuf bodies as Export calls, one channel a connection, each waiting
// for its answer before the next (as an exporter does). The Fluentd forward protocol sends a
// PackedForward message a connection and waits for its acknowledgement before the next, as Fluent
// Bit's forward output does with Require_ack_response; the Beats protocol a window a connection,
// waiting for its '2A' before the next, as libbeat's logstash output does (without pipelining).
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { startChild } from '../child.js'
import { cpuMicrosPer, cpuWindow } from '../cpu.js'
import { benchKafka, topicRecordCount } from '../kafka.js'
import { isolatedEnv } from '../isolation.js'
import { runLoad } from '../loadgen.js'
import type { LoadResult, RequestBody } from '../loadgen.js'
import { beatsWindows, datadogBodies, esBulkBodies, forwardMessages, gelfHttpBodies, gelfTcpChunks, lokiProtobufBodies, otlpJsonBodies, otlpProtobufBodies, splunkHecBodies, syslogChunks } from '../protocol-bodies.js'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'
import { freePort } from '../../infra/ports.js'
import { Client, credentials } from '@grpc/grpc-js'
import { Decoder } from '@msgpack/msgpack'

const SECTION = 'ingest protocols'
export const PROTOCOL_TARGET_RATIO = 0.8

interface HttpProtocol {
  name: string
  path: string
  contentType: string
  bodies: RequestBody[]
}

const SYSLOG = 'syslog TCP (RFC 5424, octet-counted)'
const GELF_TCP = 'GELF TCP (NUL-delimited)'
const GRPC = 'OTLP/gRPC'
const FORWARD = 'Fluentd forward (PackedForward, acked)'
const BEATS = 'Beats (Lumberjack v2, zlib, acked)'
const EXPORT = '/opentelemetry.proto.collector.logs.v1.LogsService/Export'

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
async function streamLoad(port: number, chunks: readonly RequestBody[], connections: number, durationMs: number): Promise<number> {
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

interface CallLoad {
  accepted: number
  failures: number
  firstError?: string
}

/**
 * Calls of `bodies` over `connections` connections until the deadline, each waiting for its answer
 * before the next (as an exporter or a forwarder does): the records of the calls answered, and the
 * failed calls. `call` answers an error, or undefined; a fatal one ends its connection.
 */
async function callLoad<C>(bodies: readonly RequestBody[], connections: number, durationMs: number, open: () => Promise<C>, call: (conn: C, body: Buffer) => Promise<{ error?: string; fatal?: boolean }>, close: (conn: C) => Promise<void>): Promise<CallLoad> {
  const deadline = performance.now() + durationMs
  const load: CallLoad = { accepted: 0, failures: 0 }
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const conn = await open()
      let next = c * 7
      while (performance.now() < deadline) {
        const body = bodies[next++ % bodies.length]!
        const r = await call(conn, body.body)
        if (r.error === undefined) {
          load.accepted += body.records
          continue
        }
        load.failures++
        load.firstError ??= r.error
        if (r.fatal) break
      }
      await close(conn)
    }),
  )
  return load
}

/** Export calls of the OTLP protobuf bodies, one channel a connection. */
function grpcLoad(port: number, bodies: readonly RequestBody[], connections: number, durationMs: number): Promise<CallLoad> {
  // A channel each: grpc-js would otherwise share one connection among clients of one address.
  const open = async () => new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })
  const call = (client: Client, body: Buffer) =>
    new Promise<{ error?: string }>((resolve) => client.makeUnaryRequest(EXPORT, (b: Buffer) => b, (b: Buffer) => b, body, (err) => resolve(err ? { error: err.message } : {})))
  return callLoad(bodies, connections, durationMs, open, call, async (client) => client.close())
}

/** PackedForward messages over TCP connections, each waiting for its ack. */
function forwardLoad(port: number, messages: readonly RequestBody[], connections: number, durationMs: number): Promise<CallLoad> {
  const open = async () => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    return { socket, replies: new Decoder().decodeStream(socket as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]() }
  }
  const call = async (c: Awaited<ReturnType<typeof open>>, body: Buffer) => {
    c.socket.write(body)
    const reply = await c.replies.next()
    if (!reply.done && (reply.value as { ack?: unknown }).ack !== undefined) return {}
    return { error: reply.done ? 'connection closed' : JSON.stringify(reply.value), fatal: true }
  }
  const close = async (c: Awaited<ReturnType<typeof open>>) => {
    c.socket.end()
    await once(c.socket, 'close')
  }
  return callLoad(messages, connections, durationMs, open, call, close)
}

/** Lumberjack v2 windows over TCP connections, each waiting for the ACK of its last event ('2A' seq; '2A' 0 is a keep-alive). */
function beatsLoad(port: number, windows: readonly RequestBody[], connections: number, durationMs: number): Promise<CallLoad> {
  const open = async () => {
    const socket = net.connect(port, '127.0.0.1')
    await once(socket, 'connect')
    let pending = Buffer.alloc(0)
    const waiting: Array<(seq: number | undefined) => void> = []
    socket.on('data', (d: Buffer) => {
      pending = Buffer.concat([pending, d])
      for (; pending.length >= 6; pending = pending.subarray(6)) {
        const seq = pending.readUInt32BE(2)
        if (seq !== 0) waiting.shift()?.(seq)
      }
    })
    socket.on('close', () => waiting.splice(0).forEach((w) => w(undefined)))
    return { socket, ack: () => new Promise<number | undefined>((resolve) => waiting.push(resolve)) }
  }
  const call = async (c: Awaited<ReturnType<typeof open>>, body: Buffer) => {
    const acked = c.ack()
    c.socket.write(body)
    const seq = await acked
    return seq === body.readUInt32BE(2) ? {} : { error: seq === undefined ? 'connection closed' : `ACK ${seq}, expected ${body.readUInt32BE(2)}`, fatal: true }
  }
  const close = async (c: Awaited<ReturnType<typeof open>>) => {
    c.socket.end()
    await once(c.socket, 'close')
  }
  return callLoad(windows, connections, durationMs, open, call, close)
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
    const grpcPort = await freePort()
    const forwardPort = await freePort()
    const gelfPort = await freePort()
    const beatsPort = await freePort()
    const env = { ...isolatedEnv(ctx, 'proto', path.join(config.outDir, `proto-${config.runId}`)), SYSLOG_TCP_PORT: String(syslogPort), GATEWAY_OTLP_GRPC_PORT: String(grpcPort), FORWARD_PORT: String(forwardPort), GELF_TCP_PORT: String(gelfPort), BEATS_PORT: String(beatsPort) }
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
      // As the OpenTelemetry Collector's splunk_hec exporter sends them.
      { name: 'Splunk HEC', path: '/services/collector/event', contentType: 'application/json', bodies: splunkHecBodies(ctx.bodies) },
      // As Vector's datadog_logs sink sends them.
      { name: 'Datadog', path: '/api/v2/logs', contentType: 'application/json', bodies: datadogBodies(ctx.bodies) },
      // As a GELF HTTP sender batching with Graylog's bulk receiving.
      { name: 'GELF HTTP (one a line)', path: '/gelf', contentType: 'application/json', bodies: gelfHttpBodies(ctx.bodies) },
    ]
    const syslog = syslogChunks(ctx.bodies)
    const gelfTcp = gelfTcpChunks(ctx.bodies)
    const forward = forwardMessages(ctx.bodies)
    const beats = beatsWindows(ctx.bodies)
    const otlpBodies = protocols.find((p) => p.name === 'OTLP protobuf')!.bodies
    const durationMs = config.protocolDurationS * 1000
    const warmupMs = Math.min(config.warmupS, 2) * 1000

    ctx.log('protocols: starting the gateway child')
    const child = await startChild({ name: 'gateway', targets: 'gateway', expect: ['gateway'], env, nodeArgs: config.childNodeArgs, startTimeoutMs: config.childStartTimeoutMs, stopTimeoutMs: config.childStopTimeoutMs })
    const names = [...protocols.map((p) => p.name), GRPC, FORWARD, BEATS, SYSLOG, GELF_TCP]
    // Summed over a protocol's windows; CPU per record is worked out from them at the end.
    const totals = new Map<string, Omit<Measured, 'cpuUsPerRecord'> & { cpuUs: number }>(names.map((name) => [name, { name, records: 0, elapsedS: 0, cpuUs: 0, failures: 0, acknowledged: 0 }]))
    const loads: Record<string, LoadResult[]> = {}
    const rounds = Math.max(1, Math.round(config.protocolRounds))
    const windowMs = durationMs / rounds
    try {
      const url = child.urls.gateway!
      const httpLoad = (p: HttpProtocol) => ({ url, path: p.path, bodies: p.bodies, connections: config.connections, headers: { 'content-type': p.contentType }, accepted: 'records' as const })
      // One window of a protocol: records that reached the topic, its length, the gateway's CPU.
      const window = async (name: string): Promise<void> => {
        const t = totals.get(name)!
        const before = await inTopic()
        const endCpu = cpuWindow({ gateway: child.pid })
        if (name === SYSLOG || name === GELF_TCP) {
          const t0 = performance.now()
          const written = name === SYSLOG ? await streamLoad(syslogPort, syslog, config.connections, windowMs) : await streamLoad(gelfPort, gelfTcp, config.connections, windowMs)
          await waitForCount(inTopic, before + written, 60_000)
          t.elapsedS += (performance.now() - t0) / 1000
          t.acknowledged += written
        } else if (name === GRPC || name === FORWARD || name === BEATS) {
          const t0 = performance.now()
          const r = name === GRPC ? await grpcLoad(grpcPort, otlpBodies, config.connections, windowMs) : name === FORWARD ? await forwardLoad(forwardPort, forward, config.connections, windowMs) : await beatsLoad(beatsPort, beats, config.connections, windowMs)
          t.elapsedS += (performance.now() - t0) / 1000
          t.acknowledged += r.accepted
          t.failures += r.failures
          if (r.firstError !== undefined) t.firstError ??= r.firstError
        } else {
          const r = await runLoad({ ...httpLoad(protocols.find((p) => p.name === name)!), durationMs: windowMs })
          ;(loads[name] ??= []).push(r)
          t.elapsedS += r.elapsedS
          t.acknowledged += r.accepted
          t.failures += r.non2xx + r.networkErrors
          if (r.firstError !== undefined) t.firstError ??= r.firstError
        }
        const cpu = endCpu()
        const records = (await inTopic()) - before
        t.records += records
        t.cpuUs += cpuMicrosPer(cpu, ['gateway'], 1)
      }

      if (warmupMs > 0) {
        ctx.log('protocols: warming up every protocol')
        for (const p of protocols) await runLoad({ ...httpLoad(p), durationMs: warmupMs })
        await grpcLoad(grpcPort, otlpBodies, config.connections, warmupMs)
        await forwardLoad(forwardPort, forward, config.connections, warmupMs)
        await beatsLoad(beatsPort, beats, config.connections, warmupMs)
        const warm = await inTopic()
        const written = (await streamLoad(syslogPort, syslog, config.connections, warmupMs)) + (await streamLoad(gelfPort, gelfTcp, config.connections, warmupMs))
        await waitForCount(inTopic, warm + written, 60_000)
      }
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? names : [...names].reverse()
        ctx.log(`protocols: round ${round + 1} of ${rounds}, ${(windowMs / 1000).toFixed(1)} s each: ${order.join(', ')}`)
        for (const name of order) await window(name)
      }
      if (child.exit) throw new Error(`gateway exited during the run (code ${child.exit.code})\n${child.tail()}`)
    } finally {
      await child.stop()
    }
    const measured: Measured[] = names.map((name) => {
      const { cpuUs, ...t } = totals.get(name)!
      return { ...t, cpuUsPerRecord: t.records > 0 ? cpuUs / t.records : NaN }
    })

    const native = measured[0]!.records / measured[0]!.elapsedS
    const rows: Row[] = []
    for (const m of measured) {
      const perS = m.records / m.elapsedS
      rows.push({ section: SECTION, metric: `${m.name} records/s`, value: perS, unit: 'records/s' })
      if (m !== measured[0]) rows.push({ section: SECTION, metric: `${m.name} / native`, value: perS / native, unit: '×', decimals: 2, target: { op: '>=', value: PROTOCOL_TARGET_RATIO } })
      rows.push({ section: SECTION, metric: `${m.name} gateway CPU per record`, value: m.cpuUsPerRecord, unit: 'µs/record', decimals: 1 })
      // Every record a client was told is in (2xx, an ack, or written to syslog) must be in the topic.
      rows.push({ section: SECTION, metric: `${m.name} sent − stored`, value: m.acknowledged - m.records, unit: 'records' })
      if (m.failures > 0) rows.push({ section: SECTION, metric: `${m.name} failed requests`, value: m.failures, unit: 'requests' })
    }
    return { rows, detail: { measured, loads } }
  },
}
