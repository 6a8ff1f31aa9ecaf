// When the clients' sockets are written. Writing is the fan-out's main cost (a writev system call
// per client), and a burst for a thousand clients holds the event loop for 10–30 ms. Two rules:
//   coalesce  a round of writes starts a few milliseconds after the first frame waiting for it: a
//             fetch's partitions arrive as separate batches in quick succession, and one write per
//             client for all of them costs a fraction of the system calls.
//   slices    a round writes for at most `sliceMs` at a time, then lets the event loop read its
//             sockets before going on: the next Kafka fetch is decoded and matched meanwhile, and
//             its frames join the round for every client not yet written, instead of waiting for
//             the whole round and then a coalescing delay of their own.
// A client given frames after its write in the current round waits for the next round.

/** What the scheduler writes: a client with queued frames. */
export interface Writable {
  pump(): void
}

export interface WriteSchedulerOptions {
  coalesceMs: number
  sliceMs: number
  now?: () => number
}

export class WriteScheduler<C extends Writable> {
  readonly #coalesceMs: number
  readonly #sliceMs: number
  readonly #now: () => number
  /** Clients waiting for the next round. */
  #next = new Set<C>()
  /** The round being written: clients not yet written in it (undefined: no round running). */
  #round: Set<C> | undefined
  /** Clients written in the current round. */
  readonly #written = new Set<C>()
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(opts: WriteSchedulerOptions) {
    this.#coalesceMs = opts.coalesceMs
    this.#sliceMs = opts.sliceMs
    this.#now = opts.now ?? (() => performance.now())
  }

  /** The client has frames to write. */
  add(c: C): void {
    if (this.#closed) return
    if (this.#round && !this.#written.has(c)) {
      this.#round.add(c)
      return
    }
    this.#next.add(c)
    if (!this.#round) this.#schedule()
  }

  /** Stops scheduling; clients still waiting are not written. */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
    this.#next.clear()
    this.#round?.clear()
  }

  #schedule(): void {
    if (this.#timer === undefined && !this.#closed) this.#timer = setTimeout(this.#start, this.#coalesceMs)
  }

  readonly #start = (): void => {
    this.#timer = undefined
    this.#round = this.#next
    this.#next = new Set()
    this.#continue()
  }

  readonly #continue = (): void => {
    const round = this.#round!
    const deadline = this.#now() + this.#sliceMs
    for (const c of round) {
      round.delete(c)
      this.#written.add(c)
      c.pump()
      if (round.size > 0 && this.#now() >= deadline) {
        setImmediate(this.#continue)
        return
      }
    }
    this.#round = undefined
    this.#written.clear()
    if (this.#next.size > 0) this.#schedule()
  }
}
