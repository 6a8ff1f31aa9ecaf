// The Beats protocol listener (Lumberjack v2) on BEATS_PORT (TCP, HOST; 0 switches it off): what
// Filebeat's, Winlogbeat's and every Beat's `output.logstash` sends (libbeat's logstash output,
// built on go-lumber), and Vector's and Logstash's Beats clients. beats-framing.ts reads the
// windows; each event (a JSON object: ECS, as a Beat writes it) becomes a Sluice record as an
// Elasticsearch document would (elastic-map.ts: message, @timestamp, host.name, log.level,
// service.name…; every other field an attribute), its `@metadata` (the Beat's pipeline metadata,
// which Logstash keeps out of its outputs too) left out, under BEATS_TENANT, source "beats".
//
// A window is acknowledged ('2A' and its last sequence number) once Kafka took its events — or
// refused them as invalid, which sending again would not mend. A connection's windows go to Kafka
// in order, one batch at a time (a Beat pipelines two windows by default); while a batch waits the
// connection reads ahead up to MAX_QUEUED_BYTES, then is paused, and every KEEPALIVE_MS it is sent
// '2A' 0, which a Beat takes as "still working" (go-lumber's server does the same), so a slow Kafka
// does not run into the Beat's 30 s timeout. Kafka failing for good closes the connection with the
// window unacknowledged: the Beat connects again and sends it again.
//
// Who may send: BEATS_ALLOWED_SOURCES (addresses and CIDR ranges; empty: any); the protocol has no
// credentials (TLS and its client certificates are for a proxy in front). With SLUICE_AUTH=true
// and no sources set, the start warns, as for syslog.
import { once } from 'node:events'
import type net from 'node:net'
import type { Socket } from 'node:net'
import { errorMessage, nowNs, uuidv7 } from '@sluice/core'
import type { ProtocolContext } from './protocol.js'
import { AckedBatches } from './acked-batches.js'
import { BeatsReader } from './beats-framing.js'
import type { BeatsWindow } from './beats-framing.js'
import type { EventDefaults } from './ingest.js'
import { isPlainObject } from './protocols/elastic-bulk.js'
import { guardedMap, mapDocument } from './protocols/elastic-map.js'
import type { MapResult } from './protocols/elastic-map.js'
import { quote } from './stream-listeners.js'
import { StreamReport } from './stream-report.js'
import type { StreamCounts } from './stream-report.js'
import { deliverRetrying } from './stream-delivery.js'
import type { Delivery } from './stream-delivery.js'
import { SourceAllowList } from './syslog-sources.js'
import { tcpServer } from './tls.js'

export interface BeatsListener {
  address: string
  counts(): StreamCounts
  close(): Promise<void>
}

/** Bytes of windows a connection reads ahead while its previous batch waits for Kafka; past this it is paused. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024
const MAX_CONNECTIONS = 1024
const REPORT_INTERVAL_MS = 10_000
/** How often a connection whose batch waits for Kafka is told so ('2A' 0). */
export const KEEPALIVE_MS = 3_000
const NO_RESOURCE: Readonly<Record<string, string>> = Object.freeze({})

const ack = (seq: number) => {
  const b = Buffer.alloc(6)
  b[0] = 0x32 // '2'
  b[1] = 0x41 // 'A'
  b.writeUInt32BE(seq, 2)
  return b
}

/** A Beat's event (JSON text) as the record `id`, as an Elasticsearch document is read. */
export function beatsRecord(text: string, id: string, d: EventDefaults): MapResult {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: `not JSON: ${errorMessage(err)}` }
  }
  if (!isPlainObject(v)) return { ok: false, reason: `an event is a JSON object, not ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}` }
  delete v['@metadata']
  return mapDocument(v, id, NO_RESOURCE, d)
}

export async function startBeats(ctx: ProtocolContext, opts = { keepaliveMs: KEEPALIVE_MS }): Promise<BeatsListener | undefined> {
  const { config } = ctx
  if (config.beatsPort === 0) return undefined
  const log = ctx.log.child({ component: 'beats' })
  const report = new StreamReport(log, REPORT_INTERVAL_MS, ctx.registry, { protocol: 'beats', title: 'Beats' })
  const sources = new SourceAllowList(config.beatsAllowedSources)
  let closing = false
  const inFlight = new Set<Promise<void>>()
  const delivery: Delivery = { ingest: ctx.ingest, report, closing: () => closing, defaults: () => ({ tenant: config.beatsTenant, source: 'beats', observedNs: nowNs() }) }
  const sockets = new Set<Socket>()

  /** A batch's events as records (`ids` given on a retry: the same ones again). */
  function records(batch: readonly BeatsWindow[], ids: string[], first: boolean, d: EventDefaults, from: string): unknown[] {
    const out: unknown[] = []
    let i = 0
    for (const w of batch) {
      for (const text of w.events) {
        const id = first ? (ids[i] = uuidv7()) : ids[i]!
        i++
        const mapped = guardedMap(() => beatsRecord(text, id, d), (err) => first && log.error({ err, from }, 'beats: could not map an event; dropped'))
        if (mapped.ok) out.push(mapped.doc.event ?? mapped.doc.record)
        else if (first) report.dropped('invalid', 1, `from ${from}: ${mapped.reason}: ${quote(text)}`)
      }
    }
    return out
  }

  function serve(socket: Socket): void {
    const from = `${socket.remoteAddress}:${socket.remotePort}`
    if (!sources.allows(socket.remoteAddress)) {
      report.received('tcp')
      report.dropped('source_not_allowed', 1, `from ${from}: not in BEATS_ALLOWED_SOURCES`)
      ctx.security?.audit.record({ action: 'beats.refused', outcome: 'refused', tenant: config.beatsTenant, keyId: '', target: 'beats', reason: 'source not in BEATS_ALLOWED_SOURCES', remote: socket.remoteAddress ?? '' })
      socket.destroy()
      return
    }
    sockets.add(socket)
    const reader = new BeatsReader({ maxEventBytes: config.maxRecordBytes, maxFrameBytes: config.maxBodyBytes })
    const batches = new AckedBatches<BeatsWindow>({
      socket,
      from,
      protocol: 'beats',
      maxQueuedBytes: MAX_QUEUED_BYTES,
      log,
      closing: () => closing,
      deliver: async (batch) => {
        const count = batch.reduce((n, w) => n + w.events.length, 0)
        const ids: string[] = new Array<string>(count)
        // The Beat waits for the ACK with a timeout: while Kafka is slow, it hears that work goes on.
        const keepalive = setInterval(() => !socket.destroyed && socket.write(ack(0)), opts.keepaliveMs)
        try {
          return await deliverRetrying(delivery, count, (first, d) => records(batch, ids, first, d, from), from, { holdOnLimit: true })
        } finally {
          clearInterval(keepalive)
        }
      },
      acknowledge: (batch) => {
        for (const w of batch) socket.write(ack(w.seq))
      },
      // Unacknowledged, and the windows after it could not be acknowledged in order: the Beat sends them again on a new connection.
      onFailure: 'close',
      track: (p) => {
        inFlight.add(p)
        void p.finally(() => inFlight.delete(p))
      },
    })
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk, (w) => {
        report.received('tcp', w.events.length)
        batches.push(w, w.bytes)
      })
      if (reader.broken) {
        // Nothing after bytes that are no Lumberjack v2 can be read.
        report.dropped('garbage', 1, `from ${from}: ${reader.problem}`)
        socket.removeAllListeners('data')
        socket.pause()
        return batches.finish()
      }
      batches.holdIfFull(reader.buffered)
      batches.kick()
    })
    socket.on('end', () => batches.finish())
    socket.on('error', (err) => log.debug({ err, from }, 'beats connection error'))
    socket.on('close', () => sockets.delete(socket))
  }

  const server = tcpServer(config.tlsOn, ctx.tls, 'beats', { allowHalfOpen: true }, serve)
  server.maxConnections = MAX_CONNECTIONS
  server.on('drop', (d) => report.dropped('too_many_connections', 1, `from ${d?.remoteAddress}:${d?.remotePort}: ${MAX_CONNECTIONS} connections open`))
  server.listen(config.beatsPort, config.host)
  try {
    await once(server, 'listening')
  } catch (err) {
    report.close()
    throw err
  }
  server.on('error', (err) => log.error({ err }, 'beats listener error'))
  const a = server.address() as net.AddressInfo
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
  log.info({ address, tenant: config.beatsTenant }, `beats listening on ${config.tlsOn.beats ? 'tls' : 'tcp'} ${address}`)
  if (sources.any && ctx.security?.auth.enabled) {
    log.warn({ tenant: config.beatsTenant }, `SLUICE_AUTH=true but the beats listener takes events from any source as tenant ${config.beatsTenant}: set BEATS_ALLOWED_SOURCES, or switch it off (BEATS_PORT=0)`)
  }

  async function close(): Promise<void> {
    closing = true
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
    for (const s of sockets) s.pause()
    while (inFlight.size > 0) await Promise.all(inFlight)
    for (const s of sockets) s.destroy()
    await stopped
    report.close()
  }
  let closed: Promise<void> | undefined
  return { address, counts: () => report.counts(), close: () => (closed ??= close()) }
}
