// Event-time window engine for the alerter: per-key counts in fixed buckets, a global watermark
// (max event time seen − allowed lateness) and closed-window emission. Pure: no clock, no I/O,
// so every rule kind can be tested with synthetic streams that know exactly when a window closes.

export interface WindowEngineOptions {
  /** Window length; equal to slideMs gives tumbling windows, a multiple gives sliding ones. */
  windowMs: number
  /** Step between consecutive window ends (bucket size). */
  slideMs: number
  /** How far behind the newest event time a record may arrive and still be counted. */
  allowedLatenessMs: number
}

export interface WindowCounts {
  total: number
  errors: number
}

/** A window whose end has passed the watermark: its counts are final. */
export interface ClosedWindow extends WindowCounts {
  key: string
  start: number
  end: number
}

export const ADD_OUTCOMES = ['accepted', 'late'] as const
export type AddOutcome = (typeof ADD_OUTCOMES)[number]

export class WindowEngine {
  readonly #opts: WindowEngineOptions
  // key → bucket start → counts; buckets are slideMs wide so sliding windows are bucket sums.
  readonly #buckets = new Map<string, Map<number, WindowCounts>>()
  // key → end of the last window already emitted, so each window is emitted once.
  readonly #emittedUntil = new Map<string, number>()
  #maxEventTime = Number.NEGATIVE_INFINITY
  #late = 0

  constructor(opts: WindowEngineOptions) {
    if (opts.slideMs <= 0 || opts.windowMs < opts.slideMs || opts.windowMs % opts.slideMs !== 0) {
      throw new RangeError('windowMs must be a positive multiple of slideMs')
    }
    this.#opts = { ...opts }
  }

  get watermark(): number {
    return this.#maxEventTime - this.#opts.allowedLatenessMs
  }

  /** Records rejected for arriving behind the watermark (exported as sluice_alerter_late_records_total). */
  get lateRecords(): number {
    return this.#late
  }

  /** Number of live buckets across all keys (the state-size metric). */
  get stateSize(): number {
    let n = 0
    for (const b of this.#buckets.values()) n += b.size
    return n
  }

  add(key: string, eventTime: number, isError: boolean): AddOutcome {
    // A record is late when the window holding it may already have been emitted.
    if (eventTime < this.watermark && this.#bucketStart(eventTime) + this.#opts.slideMs <= this.watermark) {
      this.#late++
      return 'late'
    }
    if (eventTime > this.#maxEventTime) this.#maxEventTime = eventTime
    let byBucket = this.#buckets.get(key)
    if (byBucket === undefined) {
      byBucket = new Map()
      this.#buckets.set(key, byBucket)
    }
    const start = this.#bucketStart(eventTime)
    const counts = byBucket.get(start) ?? { total: 0, errors: 0 }
    counts.total++
    if (isError) counts.errors++
    byBucket.set(start, counts)
    // start < emittedUntil only happens before the key's first emission (emitted ends are ≤ watermark < start + slideMs).
    const emitted = this.#emittedUntil.get(key)
    if (emitted === undefined || start < emitted) this.#emittedUntil.set(key, start)
    return 'accepted'
  }

  /** Emits every window (per key, in end order) whose end is at or before the watermark, then evicts old buckets. */
  advance(): ClosedWindow[] {
    const { windowMs, slideMs } = this.#opts
    const wm = this.watermark
    const out: ClosedWindow[] = []
    for (const [key, byBucket] of this.#buckets) {
      let end = (this.#emittedUntil.get(key) ?? 0) + slideMs
      for (; end <= wm; end += slideMs) {
        const start = end - windowMs
        const counts: WindowCounts = { total: 0, errors: 0 }
        for (let b = start; b < end; b += slideMs) {
          const c = byBucket.get(b)
          if (c !== undefined) {
            counts.total += c.total
            counts.errors += c.errors
          }
        }
        out.push({ key, start, end, ...counts })
        this.#emittedUntil.set(key, end)
      }
      // Buckets that no future window can contain are dropped to bound state.
      const keepFrom = (this.#emittedUntil.get(key) ?? 0) + slideMs - windowMs
      for (const b of byBucket.keys()) if (b < keepFrom) byBucket.delete(b)
      if (byBucket.size === 0) {
        this.#buckets.delete(key)
        this.#emittedUntil.delete(key)
      }
    }
    return out
  }

  #bucketStart(t: number): number {
    return Math.floor(t / this.#opts.slideMs) * this.#opts.slideMs
  }
}
