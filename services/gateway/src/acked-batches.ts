// A connection of a protocol that acknowledges what it took (the Fluentd forward protocol, Beats):
// what the connection reads waits in a queue; one batch at a time — all that waits — goes to Kafka,
// and the batch's acknowledgements are written once Kafka took it. The socket is paused while more
// than `maxQueuedBytes` wait, so TCP flow control holds a sender faster than Kafka; it reads on as
// the queue empties. Once the sender ended its side (`finish`), what was read is delivered and
// acknowledged, then the connection ends (listeners are half-open for that).
import type { Socket } from 'node:net'
import type { Logger } from 'pino'

export interface AckedBatchesOptions<T> {
  socket: Socket
  /** The sender, for log lines. */
  from: string
  /** The protocol, for log lines. */
  protocol: string
  maxQueuedBytes: number
  log: Logger
  /** Whether the listener is closing (the socket then stays paused). */
  closing: () => boolean
  /** Hands a batch to Kafka: true once Kafka took it (or refused it as invalid, which sending again would not mend). */
  deliver: (batch: T[]) => Promise<boolean>
  /** Writes a delivered batch's acknowledgements (the socket is not destroyed). */
  acknowledge: (batch: T[]) => void
  /**
   * Kafka failed for good: close the connection, the batch unacknowledged and the rest unread
   * (where acknowledgements must come in order), or read on, leaving it unacknowledged.
   */
  onFailure: 'close' | 'read on'
  /** The listener's batches in flight: it waits for them as it closes. */
  track: (p: Promise<void>) => void
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

export class AckedBatches<T> {
  readonly #o: AckedBatchesOptions<T>
  #queue: T[] = []
  #bytes = 0
  #draining = false
  #ended = false

  constructor(o: AckedBatchesOptions<T>) {
    this.#o = o
  }

  /** Queues `item` (of `bytes` on the wire, for the read-ahead bound); `kick` sends it on. */
  push(item: T, bytes = 0): void {
    this.#queue.push(item)
    this.#bytes += bytes
  }

  /** Pauses the socket when the queue (and `unread` bytes held elsewhere) reached the read-ahead bound. */
  holdIfFull(unread = 0): void {
    if (this.#bytes + unread >= this.#o.maxQueuedBytes) this.#o.socket.pause()
  }

  /** Starts delivering what waits, unless a batch is out already (the next one follows it). */
  kick(): void {
    if (this.#draining || this.#queue.length === 0) return
    this.#draining = true
    const { log, from, protocol, socket } = this.#o
    this.#o.track(
      this.#drain().catch((err: unknown) => {
        // Not expected (delivery reports its own failures): the connection is closed, unanswered, so its sender resends.
        log.error({ err, from }, `${protocol}: a batch failed; closing the connection`)
        this.#draining = false
        this.#queue = []
        socket.destroy()
      }),
    )
  }

  /** Nothing more will be read: what was is delivered and acknowledged, then the connection ends. */
  finish(): void {
    this.#ended = true
    if (this.#draining || this.#queue.length > 0) this.kick()
    else if (!this.#o.socket.destroyed) this.#o.socket.end()
  }

  async #drain(): Promise<void> {
    const o = this.#o
    await nextTurn()
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      this.#bytes = 0
      if (o.socket.isPaused() && !this.#ended && !o.closing()) o.socket.resume()
      if (!(await o.deliver(batch))) {
        if (o.onFailure === 'read on') continue
        this.#queue = []
        o.socket.destroy()
        break
      }
      if (!o.socket.destroyed) o.acknowledge(batch)
    }
    this.#draining = false
    // The sender is done sending: its acknowledgements are written, and the connection ends.
    if (this.#ended && !o.socket.destroyed) o.socket.end()
  }
}
