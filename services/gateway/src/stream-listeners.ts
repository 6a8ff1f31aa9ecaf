// The gateway's listeners for protocols that stream messages over TCP and UDP with no reply
// channel: syslog (syslog.ts) and GELF (gelf.ts). A protocol gives its ports, tenant, allowed
// sources, how a message becomes a record and (UDP) how datagrams become messages; this module owns
// the sockets. Each message — a TCP frame (syslog-framing.ts: LF, CRLF or NUL trailers, or RFC 6587
// octet counting) or a UDP message — becomes a record and takes the accept path every protocol
// takes (ingest.ts), with the protocol's name as the source and its tenant (such senders carry no
// tenant, and no credentials).
//
// Who may send: the protocol's allowed sources (syslog-sources.ts), addresses and CIDR ranges;
// empty lets anyone, which with SLUICE_AUTH=true is warned about at start. A connection from
// elsewhere is closed unread, a datagram dropped; both are counted (reason source_not_allowed) and
// audited (the audit log keeps a flood of refusals to a count).
//
// TCP keeps a connection's records in order and pushes back instead of buffering without bound:
// one batch at a time goes to Kafka, the next is what arrived meanwhile, and the socket is paused
// once MAX_QUEUED_BYTES wait, so a sender faster than Kafka is slowed by TCP flow control. Kafka refusing for now
// (OVERLOADED, KAFKA_UNAVAILABLE) and the tenant's ingest limit (RATE_LIMITED) are retried with the
// socket still paused. UDP cannot push back: messages queue while a batch is out, up to
// GATEWAY_MAX_BODY_BYTES, and past that are dropped, as is a batch over the tenant's ingest limit.
// Memory per connection is bounded by one frame (GATEWAY_MAX_RECORD_BYTES; a larger one is
// skipped) and two batches of about MAX_QUEUED_BYTES, connections by MAX_CONNECTIONS.
//
// Nothing is answered on the wire, so every drop is logged with its reason (stream-report.ts).
// On close the listeners stop reading, deliver what they had read, then close the connections.
import { once } from 'node:events'
import dgram from 'node:dgram'
import net from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { nowNs, uuidv7 } from '@sluice/core'
import type { ProtocolContext } from './protocol.js'
import { SyslogFramer, isBlank } from './syslog-framing.js'
import { SourceAllowList } from './syslog-sources.js'
import type { EventDefaults } from './ingest.js'
import { deliverRetrying } from './stream-delivery.js'
import type { Delivery } from './stream-delivery.js'
import { frameText } from './syslog-record.js'
import { StreamReport } from './stream-report.js'
import { tcpServer } from './tls.js'
import type { StreamCounts, StreamNames, StreamTransport } from './stream-report.js'

export interface StreamListeners {
  /** Where each listener listens (host:port), for logs and tests. */
  addresses: { tcp?: string; udp?: string }
  /** Frames and datagrams received, records accepted, drops by reason, since start. */
  counts(): StreamCounts
  close(): Promise<void>
}

/** What a protocol served by these listeners says about itself. */
export interface StreamProtocol {
  /** syslog, gelf: the records' source, the log's component, the audit's action (`<name>.refused`). */
  name: 'syslog' | 'gelf'
  names: Omit<StreamNames, 'protocol'>
  /** 0: that listener is off. */
  tcpPort: number
  udpPort: number
  tenant: string
  allowedSources: readonly string[]
  /** The variables named in messages: the allowed sources, and the two ports (0 switches one off). */
  env: { sources: string; tcpPort: string; udpPort: string }
  /**
   * A message's text as the record `id` (an object for the accept path), or undefined when it is
   * none; what is wrong with it is reported on the `first` reading only (a retry reads it again).
   */
  toRecord(text: string, from: string, nowMs: number, id: string, first: boolean, d: EventDefaults, report: StreamReport, log: Logger): unknown
  /**
   * UDP: a datagram as the message it is or completes (GELF's chunks, inflated), or undefined while
   * it waits for the rest or when it was dropped (reported).
   */
  datagram?(msg: Buffer, from: string, report: StreamReport): Buffer | undefined
  /** Called once the listeners are closed (timers of the protocol's own). */
  close?(): void
}

/**
 * Bytes of frames a TCP connection reads ahead while its previous batch waits for Kafka; past
 * this it is paused. Bounds a connection's memory at about twice this (the batch out and the
 * next one), whatever the sender does.
 */
export const MAX_QUEUED_BYTES = 128 * 1024
/** TCP connections at once; more are closed unread (and logged). */
const MAX_CONNECTIONS = 1024
/** How often repeated drops are summed up in the log, one line per reason. */
const REPORT_INTERVAL_MS = 10_000
/** Characters of a record id (a UUIDv7 in its canonical form). */
const UUID_CHARS = 36
/** Characters of a message quoted in the log. */
const QUOTE_CHARS = 120

/** The start of a message, for a log line. */
export const quote = (line: string): string => JSON.stringify(line.slice(0, QUOTE_CHARS))
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

function formatAddress(a: AddressInfo | string | null): string {
  if (a === null || typeof a === 'string') return String(a)
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`
}

export async function startStreamListeners(ctx: ProtocolContext, protocol: StreamProtocol): Promise<StreamListeners> {
  const { config } = ctx
  const { name } = protocol
  const log = ctx.log.child({ component: name })
  const report = new StreamReport(log, REPORT_INTERVAL_MS, ctx.registry, { protocol: name, ...protocol.names })
  const sources = new SourceAllowList(protocol.allowedSources)
  let closing = false

  /** Whether `address` may send; a refusal is counted, logged (summed up) and audited. */
  function allowed(transport: StreamTransport, address: string | undefined, port: number | undefined): boolean {
    if (sources.allows(address)) return true
    report.received(transport)
    report.dropped('source_not_allowed', 1, `from ${transport} ${address}:${port}: not in ${protocol.env.sources}`)
    ctx.security?.audit.record({ action: `${name}.refused`, outcome: 'refused', tenant: protocol.tenant, keyId: '', target: `${name} ${transport}`, reason: `source not in ${protocol.env.sources}`, remote: address ?? '' })
    return false
  }
  /** Batches on their way to Kafka (close waits for them). */
  const inFlight = new Set<Promise<void>>()

  const delivery: Delivery = {
    ingest: ctx.ingest,
    report,
    closing: () => closing,
    defaults: () => ({ tenant: protocol.tenant, source: name, observedNs: nowNs() }),
  }
  /** Hands the records to Kafka (stream-delivery.ts); a UDP sender cannot be held back: what is over the limit is dropped. */
  const deliver = (count: number, build: (first: boolean, d: EventDefaults) => unknown[], from: string, transport: StreamTransport): Promise<unknown> =>
    deliverRetrying(delivery, count, build, from, { holdOnLimit: transport === 'tcp' })

  /**
   * Reads `messages` into records: new ids on the first reading, the same ones after. The ids wait
   * for a retry as one string (UUIDs are 36 characters), not as an object per record.
   */
  const push = (records: unknown[], r: unknown) => {
    if (r !== undefined) records.push(r)
  }
  function reader<T>(messages: readonly T[], text: (m: T) => string, from: (m: T) => string): (first: boolean, d: EventDefaults) => unknown[] {
    const nowMs = Date.now()
    let ids = ''
    return (first, d) => {
      const records: unknown[] = []
      if (!first) {
        for (let i = 0; i < messages.length; i++) push(records, protocol.toRecord(text(messages[i]!), from(messages[i]!), nowMs, ids.slice(i * UUID_CHARS, (i + 1) * UUID_CHARS), false, d, report, log))
        return records
      }
      const made = new Array<string>(messages.length)
      for (let i = 0; i < messages.length; i++) push(records, protocol.toRecord(text(messages[i]!), from(messages[i]!), nowMs, (made[i] = uuidv7()), true, d, report, log))
      ids = made.join('')
      return records
    }
  }

  /**
   * A TCP batch's frames copied back to back into one buffer: it waits for Kafka (and a retry) as
   * two objects, not as a view per frame that the garbage collector would carry into its old space.
   */
  function packed(frames: readonly Uint8Array[]): { indexes: number[]; text: (i: number) => string } {
    let total = 0
    for (const f of frames) total += f.length
    const bytes = Buffer.allocUnsafeSlow(total)
    const ends = new Int32Array(frames.length)
    let pos = 0
    for (let i = 0; i < frames.length; i++) {
      bytes.set(frames[i]!, pos)
      ends[i] = pos += frames[i]!.length
    }
    return { indexes: Array.from(ends.keys()), text: (i) => frameText(bytes, i === 0 ? 0 : ends[i - 1], ends[i]) }
  }

  function track(p: Promise<void>): Promise<void> {
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    return p
  }

  // TCP ----------------------------------------------------------------------------------------
  const sockets = new Set<Socket>()

  function serve(socket: Socket): void {
    if (!allowed('tcp', socket.remoteAddress, socket.remotePort)) {
      socket.destroy()
      return
    }
    const from = `tcp ${socket.remoteAddress}:${socket.remotePort}`
    let queue: Uint8Array[] = []
    let queuedBytes = 0
    /** The chunk the last queued frame lies in: what a frame keeps alive is its whole chunk. */
    let lastChunk: ArrayBufferLike | undefined
    let draining = false
    let ended = false
    // Frames read from the chunk being framed: counted once per chunk (a labelled counter's
    // increment hashes its labels, which per frame cost ~0.2 µs a record).
    let framed = 0
    const counted = () => {
      if (framed > 0) report.received('tcp', framed)
      framed = 0
    }
    const framer = new SyslogFramer(config.maxRecordBytes, {
      frame: (bytes) => {
        framed++
        queue.push(bytes)
        if (bytes.buffer !== lastChunk) {
          lastChunk = bytes.buffer
          queuedBytes += bytes.buffer.byteLength
        }
      },
      refused: (reason, detail) => report.dropped(reason, 1, `from ${from}: ${detail}`),
    })
    // One batch at a time, in arrival order. The socket reads on while a batch is with Kafka, so
    // the next batch is what arrived meanwhile (as a producer's linger batches), and pauses once
    // MAX_QUEUED_BYTES wait behind it: a sender faster than Kafka is held by TCP flow control.
    const drain = async () => {
      await nextTurn()
      while (queue.length > 0) {
        // Copied out of the chunks they lie in, which are let go with the queue.
        const batch = packed(queue)
        queue = []
        queuedBytes = 0
        lastChunk = undefined
        if (socket.isPaused() && !ended && !closing) socket.resume()
        await deliver(batch.indexes.length, reader(batch.indexes, batch.text, () => from), from, 'tcp')
      }
      draining = false
    }
    const kick = () => {
      if (draining || queue.length === 0) return
      draining = true
      void track(drain())
    }
    sockets.add(socket)
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk)
      counted()
      if (queuedBytes >= MAX_QUEUED_BYTES) socket.pause()
      kick()
    })
    socket.on('end', () => {
      ended = true
      framer.end()
      counted()
      kick()
    })
    // A reset or timeout from the peer: what was read is still delivered.
    socket.on('error', (err) => log.debug({ err, from }, `${name} connection error`))
    socket.on('close', () => sockets.delete(socket))
  }

  async function listenTcp(port: number): Promise<net.Server> {
    const server = tcpServer(config.tlsOn, ctx.tls, name, {}, serve)
    server.maxConnections = MAX_CONNECTIONS
    server.on('drop', (d) => report.dropped('too_many_connections', 1, `from tcp ${d?.remoteAddress}:${d?.remotePort}: ${MAX_CONNECTIONS} connections open`))
    server.listen(port, config.host)
    await once(server, 'listening')
    server.on('error', (err) => log.error({ err }, `${name} TCP listener error`))
    return server
  }

  // UDP ----------------------------------------------------------------------------------------
  let udpQueue: Array<{ msg: Buffer; from: string }> = []
  let udpQueuedBytes = 0
  let udpDraining = false
  const drainUdp = async () => {
    await nextTurn()
    while (udpQueue.length > 0) {
      const datagrams = udpQueue
      udpQueue = []
      udpQueuedBytes = 0
      await deliver(datagrams.length, reader(datagrams, (d) => frameText(d.msg), (d) => d.from), 'udp', 'udp')
    }
    udpDraining = false
  }

  async function listenUdp(socket: dgram.Socket, port: number): Promise<void> {
    socket.on('message', (msg, rinfo) => {
      if (closing || !allowed('udp', rinfo.address, rinfo.port)) return
      // Empty or only NULs and white space (keep-alives, padding): no message, not a record, as
      // such bytes between TCP frames are skipped.
      if (isBlank(msg)) return
      const from = `udp ${rinfo.address}:${rinfo.port}`
      let message: Buffer = msg
      if (protocol.datagram) {
        let whole: Buffer | undefined
        try {
          whole = protocol.datagram(msg, from, report)
        } catch (err) {
          // A bug must not take the gateway down from inside the socket's handler.
          log.error({ err, from }, `${name}: could not read a datagram; dropped`)
          report.received('udp')
          report.dropped('invalid', 1, `from ${from}: could not be read`)
          return
        }
        if (whole === undefined) return
        message = whole
      }
      if (udpQueuedBytes + message.length > config.maxBodyBytes) {
        report.received('udp')
        report.dropped('queue_full', 1, `from ${from}: ${udpQueuedBytes} bytes already waiting for Kafka`)
        return
      }
      report.received('udp')
      udpQueue.push({ msg: message, from })
      udpQueuedBytes += message.length
      if (udpDraining) return
      udpDraining = true
      void track(drainUdp())
    })
    socket.bind(port, config.host)
    await once(socket, 'listening')
    socket.on('error', (err) => log.error({ err }, `${name} UDP listener error`))
  }

  let tcp: net.Server | undefined
  let udp: dgram.Socket | undefined
  try {
    if (protocol.tcpPort !== 0) tcp = await listenTcp(protocol.tcpPort)
    if (protocol.udpPort !== 0) {
      udp = dgram.createSocket(net.isIPv6(config.host) ? 'udp6' : 'udp4')
      await listenUdp(udp, protocol.udpPort)
    }
  } catch (err) {
    // A port in use fails the gateway's start, with nothing left listening.
    tcp?.close()
    udp?.close()
    report.close()
    protocol.close?.()
    throw err
  }

  const addresses = {
    ...(tcp && { tcp: formatAddress(tcp.address()) }),
    ...(udp && { udp: formatAddress(udp.address()) }),
  }
  if (tcp || udp) log.info({ addresses, tenant: protocol.tenant }, `${name} listening on ${[addresses.tcp && `${config.tlsOn[name] ? 'tls' : 'tcp'} ${addresses.tcp}`, addresses.udp && `udp ${addresses.udp}`].filter(Boolean).join(', ')}`)
  if ((tcp || udp) && sources.any && ctx.security?.auth.enabled) {
    const { env } = protocol
    log.warn({ tenant: protocol.tenant }, `SLUICE_AUTH=true but ${name} takes messages from any source as tenant ${protocol.tenant}: set ${env.sources} to the senders' addresses, or switch the listeners off (${env.tcpPort}=0, ${env.udpPort}=0)`)
  }

  async function close(): Promise<void> {
    closing = true
    const stopped = new Promise<void>((resolve) => (tcp ? tcp.close(() => resolve()) : resolve()))
    for (const s of sockets) s.pause()
    udp?.close()
    // What was read is delivered (retries give up now: a retryable failure is a 'shutdown' drop).
    while (inFlight.size > 0) await Promise.all(inFlight)
    for (const s of sockets) s.destroy()
    await stopped
    report.close()
    protocol.close?.()
  }
  let closed: Promise<void> | undefined
  return {
    addresses,
    counts: () => report.counts(),
    close: () => (closed ??= close()),
  }
}
