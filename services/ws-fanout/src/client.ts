// One connected dashboard. Frames are queued per client and written only while the socket's own
// buffer is small, so a slow reader never holds memory beyond its bounded queue: when the queue
// is full the oldest frames are dropped and counted, and the client learns how many through a
// `dropped` notice once it catches up. A client whose queue stays full for `stuckMs` is closed.
// Replies obey the same rule: a client that sends without reading gets none past the socket's
// high-water mark (they are dropped and counted) and is closed once that lasts `stuckMs`.
// A fast reader of a busy stream gets what it can read: a full queue is written to the socket
// before any frame is dropped, and frames left queued because the socket's buffer was full are
// written as soon as it drains, not at the next round of writes or pump tick (a local client
// following every log at ~12 000 logs/s lost half of them).
import type { WebSocket } from 'ws'
import type { Channel, FilterableLog } from './protocol.js'
import { parseSeverity } from '@sluice/core'
import { CLOSE_STUCK, closeWith } from './close.js'
import { compileFilters } from './protocol.js'
import type { Filters } from './protocol.js'

/** Bytes the socket may buffer before we stop writing to it. */
export const HIGH_WATER_BYTES = 256 * 1024

export interface ClientOptions {
  queueMessages: number
  stuckMs: number
  onDropped?: (count: number) => void
  onSent?: (count: number) => void
  /** Called when the client has frames to write; the owner schedules the write (writes.ts). */
  onPending?: (client: StreamClient) => void
}

/** The parts of a `ws` WebSocket used here that are not public API (stable across ws 7–8). */
type WsInternals = {
  _socket?: { cork(): void; uncork(): void; write(chunk: Buffer): boolean; readonly writableNeedDrain: boolean; once(event: 'drain', listener: () => void): unknown }
  _extensions?: Record<string, unknown>
}

/**
 * A complete unmasked WebSocket text frame (RFC 6455 §5.2), built once per message and written
 * as is to every client that wants it, instead of being framed again per client:
 *   byte 0      0x81 (FIN, opcode 1 = text)
 *   byte 1      payload length < 126, or 126 then a 16-bit length, or 127 then a 64-bit length
 *   then        the UTF-8 payload
 */
export function textFrame(json: string): Buffer {
  const payload = Buffer.from(json)
  const n = payload.length
  const head = n < 126 ? 2 : n < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(head + n)
  frame[0] = 0x81
  if (n < 126) frame[1] = n
  else if (n < 65_536) {
    frame[1] = 126
    frame.writeUInt16BE(n, 2)
  } else {
    frame[1] = 127
    frame.writeBigUInt64BE(BigInt(n), 2)
  }
  payload.copy(frame, head)
  return frame
}

/** The payload of a frame made by textFrame. */
export function framePayload(frame: Buffer): Buffer {
  const len = frame[1]! & 0x7f
  return frame.subarray(len < 126 ? 2 : len === 126 ? 4 : 10)
}

export class StreamClient {
  readonly socket: WebSocket
  readonly channels = new Set<Channel>()
  paused = false
  /** Set once authenticated when auth is on: the only tenant this client may see. */
  tenant: string | undefined
  authenticated: boolean
  #match: (log: FilterableLog) => boolean = () => true
  /** The services filter, for the fan-out's index (undefined: any service). */
  services: readonly string[] | undefined
  /** The minLevel filter as a severity number, for the fan-out's index (0: any level). */
  minSeverity = 0
  readonly #queue: Buffer[] = []
  #dropped = 0
  #fullSince = 0
  /** Since when replies have found the socket over the high-water mark (0: they have not). */
  #blockedSince = 0
  /** A pump left frames queued and waits for the socket's 'drain' to write them. */
  #awaitingDrain = false
  readonly #o: ClientOptions

  constructor(socket: WebSocket, opts: ClientOptions & { authenticated: boolean }) {
    this.socket = socket
    this.authenticated = opts.authenticated
    this.#o = opts
  }

  get queued(): number {
    return this.#queue.length
  }

  setFilters(filters: Filters | undefined): void {
    this.#match = compileFilters(filters)
    this.services = filters?.services
    this.minSeverity = filters?.minLevel ? parseSeverity(filters.minLevel)!.number : 0
  }

  wantsLog(log: FilterableLog & { tenant: string }): boolean {
    return this.channels.has('logs') && (this.tenant === undefined || this.tenant === log.tenant) && this.#match(log)
  }

  wantsAlert(alert: { tenant: string }): boolean {
    return this.channels.has('alerts') && (this.tenant === undefined || this.tenant === alert.tenant)
  }

  /**
   * Sends a control message right away, ahead of the queued frames (a paused client still hears
   * `paused`), unless the socket already holds HIGH_WATER_BYTES: a client sending faster than it
   * reads would otherwise hold the server's memory with answers it never takes.
   */
  reply(frame: object): void {
    if (this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      this.#blockedSince = 0
      this.socket.send(JSON.stringify(frame))
      return
    }
    this.#dropped++
    this.#o.onDropped?.(1)
    if (this.#blockedSince === 0) this.#blockedSince = Date.now()
    else if (Date.now() - this.#blockedSince > this.#o.stuckMs) closeWith(this.socket, CLOSE_STUCK, 'client too slow: not reading its replies')
  }

  /** Queues a frame made by textFrame; the same bytes are shared by every client that wants them. */
  offer(frame: Buffer): void {
    // A full queue goes to the socket first, as far as its buffer takes it (a Kafka batch can hold
    // more than a queue of frames for one client): only a reader that does not keep up loses frames.
    if (this.#queue.length >= this.#o.queueMessages && !this.paused && this.socket.bufferedAmount < HIGH_WATER_BYTES) this.pump()
    if (this.#queue.length >= this.#o.queueMessages) {
      this.#queue.shift()
      this.#dropped++
      this.#o.onDropped?.(1)
      if (this.#fullSince === 0) this.#fullSince = Date.now()
      else if (Date.now() - this.#fullSince > this.#o.stuckMs) {
        closeWith(this.socket, CLOSE_STUCK, 'client too slow: queue full for too long')
        return
      }
    } else {
      this.#fullSince = 0
    }
    this.#queue.push(frame)
    if (this.paused) return
    if (this.#o.onPending) this.#o.onPending(this)
    else this.pump()
  }

  /**
   * Writes queued frames while the socket's buffer is small. The socket is corked around the
   * burst, so everything a client gets from one Kafka batch leaves in one writev, not one per frame.
   */
  pump(): void {
    if (this.paused || this.socket.readyState !== this.socket.OPEN) return
    if (this.#queue.length === 0 && this.#dropped === 0) return
    const internals = this.socket as unknown as WsInternals
    const raw = internals._socket
    // Pre-framed bytes can go straight to the socket unless an extension (compression) rewrites frames.
    const direct = raw !== undefined && (internals._extensions === undefined || Object.keys(internals._extensions).length === 0)
    raw?.cork()
    try {
      if (this.#dropped > 0 && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
        this.socket.send(JSON.stringify({ type: 'dropped', count: this.#dropped }))
        this.#dropped = 0
      }
      let sent = 0
      if (direct) {
        // The frames that fit, each written as it is: the socket is corked, so they leave in one
        // writev system call at the uncork below, straight from the frames every client shares
        // (copying them into one buffer per client first cost ~9 % of the fan-out's CPU).
        let room = HIGH_WATER_BYTES - this.socket.bufferedAmount
        while (sent < this.#queue.length && room > 0) {
          const frame = this.#queue[sent++]!
          room -= frame.length
          raw.write(frame)
        }
        this.#queue.splice(0, sent)
      } else {
        while (this.#queue.length > 0 && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
          this.socket.send(framePayload(this.#queue.shift()!), { binary: false })
          sent++
        }
      }
      if (sent > 0) this.#o.onSent?.(sent)
    } finally {
      raw?.uncork()
    }
    // Stopped at the high-water mark: go on once the socket has handed its buffer to the kernel.
    if (this.#queue.length > 0 && raw?.writableNeedDrain && !this.#awaitingDrain) {
      this.#awaitingDrain = true
      raw.once('drain', this.#drained)
    }
  }

  readonly #drained = (): void => {
    this.#awaitingDrain = false
    if (this.#o.onPending) this.#o.onPending(this)
    else this.pump()
  }
}
