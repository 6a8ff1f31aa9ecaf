// The Fluentd forward protocol listener (Forward Protocol Specification v1) on FORWARD_PORT (TCP,
// HOST; 0 switches it off) and, when FORWARD_SOCKET_PATH is set, on that Unix socket too: what Fluent Bit's and Fluentd's `forward` outputs, Docker's `fluentd`
// log driver and the fluent-logger libraries send. Each message (forward-framing.ts cuts the
// stream, forward-messages.ts reads the four modes) holds events of one tag; each event's record
// becomes a Sluice record as an Elasticsearch document would (elastic-map.ts: message from
// message, log, msg or MESSAGE, or the record's JSON text when it has none; level, service, host
// from their usual fields; every other field an attribute), at the event's time, with the tag as
// the resource attribute `fluent.tag`, under FORWARD_TENANT, source "forward". A line Docker cut
// into parts is stored whole, its parts joined (forward-partials.ts).
//
// A message asking for an acknowledgement (option `chunk`) gets {ack: chunk} once Kafka took its
// events — or refused them as invalid, which sending again would not mend. Kafka failing for good
// leaves it unacknowledged, and the sender sends it again. The parts of a line wait in memory
// for the last: a message is acknowledged once its other events are in Kafka, as a sender that
// waits for each acknowledgement (fluent-logger with acks) would not send the next part before,
// so a gateway killed while it holds parts loses that line (a stop delivers what it holds).
// A connection's messages are delivered in order, one batch at a time: the next batch is what
// arrived meanwhile, and the socket is paused once MAX_QUEUED_BYTES wait, so a sender faster than
// Kafka is held by TCP flow control.
//
// Who may send: FORWARD_ALLOWED_SOURCES (addresses and CIDR ranges; empty: any) over TCP, the
// socket file's permissions over the Unix socket, and on both with
// FORWARD_SHARED_KEY the protocol's handshake: the server's HELO with a nonce, the sender's PING
// with sha512_hex(salt + hostname + nonce + shared_key), the server's PONG proving it knows the
// key too. Without both and with SLUICE_AUTH=true the start warns, as for syslog.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import type { Socket } from 'node:net'
import { pack as encode, unpack as decode } from 'msgpackr'
import { nowNs, uuidv7 } from '@sluice/core'
import type { ProtocolContext } from './protocol.js'
import { AckedBatches } from './acked-batches.js'
import { ForwardFramer } from './forward-framing.js'
import { PartialLines } from './forward-partials.js'
import { readMessage } from './forward-messages.js'
import type { ForwardEvent } from './forward-messages.js'
import { ForwardReport } from './forward-report.js'
import type { ForwardCounts } from './forward-report.js'
import type { EventDefaults } from './ingest.js'
import { guardedMap, mapDocument } from './protocols/elastic-map.js'
import { deliverRetrying } from './stream-delivery.js'
import type { Delivery } from './stream-delivery.js'
import { SourceAllowList } from './syslog-sources.js'
import { tcpServer } from './tls.js'

export interface ForwardListener {
  /** Where it listens (TCP host:port, the Unix socket's path), for logs and tests. */
  addresses: { tcp?: string; unix?: string }
  counts(): ForwardCounts
  close(): Promise<void>
}

/** Bytes of messages a connection reads ahead while its previous batch waits for Kafka; past this it is paused. */
export const MAX_QUEUED_BYTES = 4 * 1024 * 1024
const MAX_CONNECTIONS = 1024
/** Lines in parts a connection holds at most (Docker's driver has one per container and stream in flight). */
const MAX_PARTIAL_LINES = 64
const REPORT_INTERVAL_MS = 10_000
/** Bytes of the nonce in the server's HELO (as Fluentd's). */
const NONCE_BYTES = 16
/** How long a sender has to answer HELO with PING before its connection is closed. */
export const HANDSHAKE_TIMEOUT_MS = 10_000

const sha512hex = (...parts: Array<string | Uint8Array>) => {
  const h = createHash('sha512')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

/** A message waiting for its batch: its events, and the chunk to acknowledge once they are delivered. */
interface Queued {
  tag: string
  events: ForwardEvent[]
  chunk?: string
}

export async function startForward(ctx: ProtocolContext, opts = { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS }): Promise<ForwardListener | undefined> {
  const { config } = ctx
  if (config.forwardPort === 0 && config.forwardSocketPath === undefined) return undefined
  const log = ctx.log.child({ component: 'forward' })
  const report = new ForwardReport(log, REPORT_INTERVAL_MS, ctx.registry)
  const sources = new SourceAllowList(config.forwardAllowedSources)
  const sharedKey = config.forwardSharedKey
  const serverHostname = os.hostname()
  let closing = false
  const inFlight = new Set<Promise<void>>()
  const track = (p: Promise<void>) => {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
  }
  const delivery: Delivery = { ingest: ctx.ingest, report, closing: () => closing, defaults: () => ({ tenant: config.forwardTenant, source: 'forward', observedNs: nowNs() }) }

  /** The resource of the last tag's records: one object for all of them (records only read it). */
  let lastResource: Readonly<Record<string, string>> = Object.freeze({ 'fluent.tag': '' })
  const resourceOf = (tag: string) => (lastResource['fluent.tag'] === tag ? lastResource : (lastResource = Object.freeze({ 'fluent.tag': tag })))

  /** A batch's events as records (`ids` given on a retry: the same ones again). */
  function records(batch: readonly Queued[], ids: string[], first: boolean, d: EventDefaults, from: string): unknown[] {
    const out: unknown[] = []
    let i = 0
    for (const m of batch) {
      const resource = resourceOf(m.tag)
      for (const e of m.events) {
        const id = first ? (ids[i] = uuidv7()) : ids[i]!
        i++
        const mapped = guardedMap(() => mapDocument(e.record, id, resource, d, { timestampNs: e.timeNs, wholeAsMessage: true }), (err) => first && log.error({ err, from, tag: m.tag }, 'forward: could not map a record; dropped'))
        if (mapped.ok) out.push(mapped.doc.event ?? mapped.doc.record)
        else if (first) report.dropped('invalid', 1, `from ${from}, tag ${m.tag}: ${mapped.reason}`)
      }
    }
    return out
  }

  const sockets = new Set<Socket>()
  /** Per connection: hands on the lines it holds in parts, cut (when the listener closes). */
  const holders = new Set<() => void>()

  function serve(socket: Socket, transport: 'tcp' | 'unix'): void {
    const from = transport === 'unix' ? `unix ${config.forwardSocketPath}` : `${socket.remoteAddress}:${socket.remotePort}`
    if (transport === 'tcp' && !sources.allows(socket.remoteAddress)) {
      report.dropped('source_not_allowed', 1, `from ${from}: not in FORWARD_ALLOWED_SOURCES`)
      ctx.security?.audit.record({ action: 'forward.refused', outcome: 'refused', tenant: config.forwardTenant, keyId: '', target: 'forward', reason: 'source not in FORWARD_ALLOWED_SOURCES', remote: socket.remoteAddress ?? '' })
      socket.destroy()
      return
    }
    sockets.add(socket)
    const batches = new AckedBatches<Queued>({
      socket,
      from,
      protocol: 'forward',
      maxQueuedBytes: MAX_QUEUED_BYTES,
      log,
      closing: () => closing,
      deliver: async (batch) => {
        const count = batch.reduce((n, m) => n + m.events.length, 0)
        const ids: string[] = new Array<string>(count)
        return count === 0 || (await deliverRetrying(delivery, count, (first, d) => records(batch, ids, first, d, from), from, { holdOnLimit: true }))
      },
      acknowledge: (batch) => {
        for (const m of batch) if (m.chunk !== undefined) socket.write(encode({ ack: m.chunk }))
      },
      onFailure: 'read on',
      track,
    })
    // Lines Docker cut into parts, joined as their parts come; bounded as the read-ahead is.
    const partials = config.forwardPartialWaitMs > 0 ? new PartialLines({ waitMs: config.forwardPartialWaitMs, maxLineChars: Math.floor(config.maxRecordBytes * 0.9), maxHeldChars: MAX_QUEUED_BYTES, maxLines: MAX_PARTIAL_LINES }, (whole) => report.partialLine(whole)) : undefined
    let partialTimer: NodeJS.Timeout | undefined
    /** Lines whose wait ended (every line: `all`) go out cut, with the parts that came. */
    const cutLines = (all: boolean) => {
      if (!partials || partials.size === 0) return
      for (const t of partials.expired(all)) batches.push(t)
      batches.kick()
    }
    const watchPartials = () => {
      const ms = partials?.nextExpiry()
      if (ms === undefined || partialTimer !== undefined) return
      partialTimer = setTimeout(() => {
        partialTimer = undefined
        cutLines(false)
        watchPartials()
      }, ms + 1).unref()
    }
    const handOn = () => cutLines(true)
    holders.add(handOn)
    /** Set while the shared-key handshake is to come; `shut` once it failed (nothing more is read). */
    let nonce: Buffer | undefined
    let shut = false
    if (sharedKey !== undefined) {
      nonce = randomBytes(NONCE_BYTES)
      socket.write(encode(['HELO', { nonce, auth: '', keepalive: true }]))
      // A connection that never answers would hold its place among MAX_CONNECTIONS.
      const silent = setTimeout(() => {
        if (nonce === undefined) return
        refuse('unauthenticated', `no PING within ${opts.handshakeTimeoutMs} ms of HELO`)
        shut = true
        socket.destroy()
      }, opts.handshakeTimeoutMs).unref()
      socket.once('close', () => clearTimeout(silent))
    }

    const refuse = (reason: 'unauthenticated', detail: string) => {
      report.dropped(reason, 1, `from ${from}: ${detail}`)
      ctx.security?.audit.record({ action: 'forward.refused', outcome: 'refused', tenant: config.forwardTenant, keyId: '', target: 'forward', reason: detail, remote: socket.remoteAddress ?? '' })
    }

    /** The sender's PING: answered with PONG, and the connection admitted — or closed. */
    const handshake = (bytes: Buffer, helo: Buffer) => {
      let ping: unknown
      try {
        ping = decode(bytes)
      } catch {
        ping = undefined
      }
      const p = Array.isArray(ping) ? ping : []
      const part = (v: unknown) => (typeof v === 'string' || v instanceof Uint8Array ? v : undefined)
      const [kind, hostname, salt, digest] = [p[0], part(p[1]), part(p[2]), part(p[3])]
      if (kind !== 'PING' || hostname === undefined || salt === undefined || digest === undefined) {
        refuse('unauthenticated', 'the first message after HELO must be PING (FORWARD_SHARED_KEY is set)')
        shut = true
        socket.end(encode(['PONG', false, 'expected PING', '', '']))
        return
      }
      const expected = Buffer.from(sha512hex(salt, hostname, helo, sharedKey!))
      const given = Buffer.from(digest)
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        refuse('unauthenticated', `shared key mismatch (host ${JSON.stringify(String(hostname))})`)
        shut = true
        socket.end(encode(['PONG', false, 'shared_key mismatch', '', '']))
        return
      }
      socket.write(encode(['PONG', true, '', serverHostname, sha512hex(salt, serverHostname, helo, sharedKey!)]))
    }

    const framer = new ForwardFramer(config.maxBodyBytes, {
      message: (bytes) => {
        if (shut) return
        if (nonce !== undefined) {
          const helo = nonce
          nonce = undefined
          return handshake(bytes, helo)
        }
        const m = readMessage(bytes, { maxEntriesBytes: config.maxBodyBytes })
        if (!m.ok) {
          report.received(0)
          report.dropped('invalid_message', 1, `from ${from}: ${m.reason}`)
          // Answered all the same: sending it again would not mend it.
          if (m.option.chunk !== undefined) batches.push({ tag: '', events: [], chunk: m.option.chunk }, bytes.length)
        } else {
          report.received(m.events.length + m.refused.length)
          if (m.refused.length > 0) report.dropped('invalid', m.refused.length, `from ${from}, tag ${m.tag}: ${m.refused[0]}`)
          if (partials) {
            const ready = partials.take(m.tag, m.events)
            for (let i = 0; i < ready.length - 1; i++) batches.push(ready[i]!)
            batches.push({ ...ready[ready.length - 1]!, chunk: m.option.chunk }, bytes.length)
            watchPartials()
          } else batches.push({ tag: m.tag, events: m.events, chunk: m.option.chunk }, bytes.length)
        }
      },
      refused: (reason, detail) => report.dropped(reason, 1, `from ${from}: ${detail}`),
    })

    /** Nothing more will be read: what was is delivered and acknowledged, then the connection ends. */
    const finish = () => {
      if (partials && partials.size > 0) for (const t of partials.expired(true)) batches.push(t)
      batches.finish()
    }
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk)
      if (framer.broken) {
        // Nothing after bytes that are no MessagePack can be read.
        socket.removeAllListeners('data')
        socket.pause()
        return finish()
      }
      batches.holdIfFull()
      batches.kick()
    })
    socket.on('end', finish)
    socket.on('error', (err) => log.debug({ err, from }, 'forward connection error'))
    socket.on('close', () => {
      sockets.delete(socket)
      holders.delete(handOn)
      clearTimeout(partialTimer)
      // A connection reset before it ended: the lines it left in parts are stored as they came.
      cutLines(true)
    })
  }

  const servers: net.Server[] = []
  /** A listener of `transport`; half-open: a sender that ends its side still reads the acknowledgements of what it sent. */
  async function listen(transport: 'tcp' | 'unix', ...at: [port: number, host: string] | [path: string]): Promise<net.Server> {
    // TLS (FORWARD_TLS) on the TCP listener; the Unix socket's file permissions guard it instead.
    const handler = (socket: net.Socket) => serve(socket, transport)
    const server = transport === 'tcp' ? tcpServer(config.tlsOn, ctx.tls, 'forward', { allowHalfOpen: true }, handler) : net.createServer({ allowHalfOpen: true }, handler)
    server.maxConnections = MAX_CONNECTIONS
    server.on('drop', (d) => report.dropped('too_many_connections', 1, `from ${d?.remoteAddress ?? transport}:${d?.remotePort ?? ''}: ${MAX_CONNECTIONS} connections open`))
    servers.push(server)
    server.listen(...(at as [number, string]))
    await once(server, 'listening')
    server.on('error', (err) => log.error({ err }, `forward ${transport} listener error`))
    return server
  }
  const addresses: { tcp?: string; unix?: string } = {}
  try {
    if (config.forwardPort !== 0) {
      const a = (await listen('tcp', config.forwardPort, config.host)).address() as net.AddressInfo
      addresses.tcp = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
    }
    if (config.forwardSocketPath !== undefined) {
      await removeStaleSocket(config.forwardSocketPath)
      await listen('unix', config.forwardSocketPath)
      addresses.unix = config.forwardSocketPath
    }
  } catch (err) {
    // A port or path in use fails the gateway's start, with nothing left listening.
    for (const server of servers) server.close()
    report.close()
    throw err
  }
  log.info({ addresses, tenant: config.forwardTenant, sharedKey: sharedKey !== undefined }, `forward protocol listening on ${[addresses.tcp && `${config.tlsOn.forward ? 'tls' : 'tcp'} ${addresses.tcp}`, addresses.unix && `unix ${addresses.unix}`].filter(Boolean).join(', ')}`)
  if (addresses.tcp !== undefined && sharedKey === undefined && sources.any && ctx.security?.auth.enabled) {
    log.warn({ tenant: config.forwardTenant }, `SLUICE_AUTH=true but the forward listener takes events from any source as tenant ${config.forwardTenant}: set FORWARD_SHARED_KEY or FORWARD_ALLOWED_SOURCES, or switch it off (FORWARD_PORT=0)`)
  }

  async function close(): Promise<void> {
    closing = true
    // A Unix socket's file is removed as its server closes.
    const stopped = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))))
    for (const s of sockets) s.pause()
    for (const handOn of holders) handOn()
    while (inFlight.size > 0) await Promise.all(inFlight)
    for (const s of sockets) s.destroy()
    await stopped
    report.close()
  }
  let closed: Promise<void> | undefined
  return { addresses, counts: () => report.counts(), close: () => (closed ??= close()) }
}

/**
 * A socket file left at `path` by a process that ended without closing it (a crash) is removed;
 * one something still listens on is left, and the listen fails with EADDRINUSE. Any other file
 * there is left for the listen to refuse.
 */
async function removeStaleSocket(path: string): Promise<void> {
  const stat = await fs.stat(path).catch(() => undefined)
  if (!stat?.isSocket()) return
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path)
    probe.once('connect', () => {
      probe.destroy()
      resolve(true)
    })
    probe.once('error', () => resolve(false))
  })
  if (!live) await fs.rm(path, { force: true })
}
