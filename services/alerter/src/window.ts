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
  /** Also count the last `recentMs` of each window separately (spike: recent part vs the rest as baseline). */
  recentMs?: number
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
  /** Counts over [end − recentMs, end) when the engine has `recentMs`. */
  recent?: WindowCounts
}

/** The engine's state as plain JSON, for the alerter's state changelog. */
export interface WindowEngineSnapshot {
  maxEventTime: number | null
  late: number
  /** key → [bucketStart, total, errors][] */
  buckets: Record<string, Array<[number, number, number]>>
  emittedUntil: Record<string, number>
}

export const ADD_OUTCOMES = ['accepted', 'late'] as const
export type AddOutcome = (typeof ADD_OUTCOMES)[number]

/**
 * Event time shared by the engines of one input partition: every rule sees the same watermark,
 * so a rule scoped to a quiet service still closes its windows while the partition moves on.
 */
export class EventClock {
  maxEventTime = Number.NEGATIVE_INFINITY
  constructor(readonly allowedLatenessMs: number) {}
  observe(t: number): void {
    if (t > this.maxEventTime) this.maxEventTime = t
  }
  get watermark(): number {
    return this.maxEventTime - this.allowedLatenessMs
  }
}

export class WindowEngine {
  readonly #opts: WindowEngineOptions
  // key → bucket start → counts; buckets are slideMs wide so sliding windows are bucket sums.
  readonly #buckets = new Map<string, Map<number, WindowCounts>>()
  // key → end of the last window already emitted, so each window is emitted once.
  readonly #emittedUntil = new Map<string, number>()
  readonly #clock: EventClock
  // Keys created since the last advance; other keys only need a pass once a slide boundary passes.
  readonly #fresh = new Set<string>()
  #advancedTo = Number.NEGATIVE_INFINITY
  #late = 0

  constructor(opts: WindowEngineOptions, clock = new EventClock(opts.allowedLatenessMs)) {
    if (opts.slideMs <= 0 || opts.windowMs < opts.slideMs || opts.windowMs % opts.slideMs !== 0) {
      throw new RangeError('windowMs must be a positive multiple of slideMs')
    }
    if (opts.recentMs !== undefined && (opts.recentMs <= 0 || opts.recentMs > opts.windowMs || opts.recentMs % opts.slideMs !== 0)) {
      throw new RangeError('recentMs must be a positive multiple of slideMs, at most windowMs')
    }
    this.#opts = { ...opts }
    this.#clock = clock
  }

  get watermark(): number {
    return this.#clock.watermark
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
    this.#clock.observe(eventTime)
    let byBucket = this.#buckets.get(key)
    if (byBucket === undefined) {
      byBucket = new Map()
      this.#buckets.set(key, byBucket)
      this.#fresh.add(key)
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
    const { windowMs, slideMs, recentMs } = this.#opts
    const wm = this.watermark
    const out: ClosedWindow[] = []
    // Window ends are multiples of slideMs: until the watermark crosses the next one, only keys
    // created since the last pass can have a window to close.
    const boundary = Math.floor(wm / slideMs) * slideMs
    const keys = boundary > this.#advancedTo ? this.#buckets.keys() : this.#fresh.values()
    this.#advancedTo = Math.max(this.#advancedTo, boundary)
    for (const key of [...keys]) {
      const byBucket = this.#buckets.get(key)
      if (byBucket === undefined) continue
      let end = (this.#emittedUntil.get(key) ?? 0) + slideMs
      for (; end <= wm; end += slideMs) {
        const start = end - windowMs
        const counts: WindowCounts = { total: 0, errors: 0 }
        const recent: WindowCounts = { total: 0, errors: 0 }
        const recentFrom = recentMs === undefined ? Number.POSITIVE_INFINITY : end - recentMs
        for (let b = start; b < end; b += slideMs) {
          const c = byBucket.get(b)
          if (c !== undefined) {
            counts.total += c.total
            counts.errors += c.errors
            if (b >= recentFrom) {
              recent.total += c.total
              recent.errors += c.errors
            }
          }
        }
        out.push(recentMs === undefined ? { key, start, end, ...counts } : { key, start, end, ...counts, recent })
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
    this.#fresh.clear()
    return out
  }

  get keyCount(): number {
    return this.#buckets.size
  }

  hasKey(key: string): boolean {
    return this.#buckets.has(key)
  }

  snapshot(): WindowEngineSnapshot {
    const buckets: WindowEngineSnapshot['buckets'] = {}
    for (const [key, byBucket] of this.#buckets) buckets[key] = [...byBucket].map(([b, c]) => [b, c.total, c.errors])
    return {
      maxEventTime: Number.isFinite(this.#clock.maxEventTime) ? this.#clock.maxEventTime : null,
      late: this.#late,
      buckets,
      emittedUntil: Object.fromEntries(this.#emittedUntil),
    }
  }

  restore(s: WindowEngineSnapshot): void {
    if (s.maxEventTime !== null) this.#clock.observe(s.maxEventTime)
    this.#advancedTo = Number.NEGATIVE_INFINITY
    this.#late = s.late
    this.#buckets.clear()
    for (const [key, list] of Object.entries(s.buckets)) this.#buckets.set(key, new Map(list.map(([b, total, errors]) => [b, { total, errors }])))
    this.#emittedUntil.clear()
    for (const [key, end] of Object.entries(s.emittedUntil)) this.#emittedUntil.set(key, end)
    for (const key of this.#buckets.keys()) this.#fresh.add(key)
  }

  #bucketStart(t: number): number {
    return Math.floor(t / this.#opts.slideMs) * this.#opts.slideMs
  }
}
