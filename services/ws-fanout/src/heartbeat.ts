// Heartbeats for every connected socket, spread over the interval. A timer per socket started at
// connection time pings each one `intervalMs` after it connected, so clients that connected
// together (every dashboard reconnecting after a restart or a deploy, the bench's thousand) are
// pinged together: a thousand pings, and then their pongs, held the event loop for 7–26 ms at
// once, every interval, in the middle of the live stream. Here the interval is cut into `slots`
// turns; a socket joins the emptiest slot and is visited once per interval, on its slot's turn:
//   answered since the last ping  → pinged again
//   not answered                  → terminated (it missed a whole interval)
// So a dead peer is found within two intervals, as with a timer per socket.

/** What a heartbeat needs of a socket (a `ws` WebSocket has both). */
export interface Pingable {
  ping(): void
  terminate(): void
}

export interface HeartbeatsOptions {
  intervalMs: number
  /** Turns per interval (default 32): at most about 1/slots of the sockets are pinged at once. */
  slots?: number
}

export class Heartbeats<S extends Pingable> {
  /** Per slot: its sockets, each with whether it answered since its last ping. */
  readonly #slots: Map<S, boolean>[]
  readonly #slotOf = new Map<S, Map<S, boolean>>()
  readonly #timer: NodeJS.Timeout
  #turn = 0

  constructor(opts: HeartbeatsOptions) {
    const slots = Math.max(1, Math.floor(opts.slots ?? 32))
    this.#slots = Array.from({ length: slots }, () => new Map<S, boolean>())
    this.#timer = setInterval(() => this.#beat(), Math.max(1, opts.intervalMs / slots))
    this.#timer.unref()
  }

  get size(): number {
    return this.#slotOf.size
  }

  /** Starts beating for `socket`: first pinged within one interval. */
  add(socket: S): void {
    if (this.#slotOf.has(socket)) return
    let slot = this.#slots[0]!
    for (const s of this.#slots) if (s.size < slot.size) slot = s
    slot.set(socket, true)
    this.#slotOf.set(socket, slot)
  }

  /** The socket answered (a pong). */
  answered(socket: S): void {
    this.#slotOf.get(socket)?.set(socket, true)
  }

  /** The socket closed: never pinged again. */
  remove(socket: S): void {
    this.#slotOf.get(socket)?.delete(socket)
    this.#slotOf.delete(socket)
  }

  close(): void {
    clearInterval(this.#timer)
    for (const s of this.#slots) s.clear()
    this.#slotOf.clear()
  }

  #beat(): void {
    const slot = this.#slots[this.#turn]!
    this.#turn = (this.#turn + 1) % this.#slots.length
    for (const [socket, answered] of slot) {
      if (!answered) {
        this.remove(socket)
        socket.terminate()
        continue
      }
      slot.set(socket, false)
      try {
        socket.ping()
      } catch {
        // Not open any more: its close is on the way (and removes it); nothing to ping.
      }
    }
  }
}
