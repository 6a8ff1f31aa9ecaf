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

/** One key's state. */
interface KeyState {
  /** Bucket start → counts; buckets are slideMs wide, so sliding windows are bucket sums. */
  buckets: Map<number, WindowCounts>
  /** End of the last window already emitted, so each window is emitted once (set by the first add). */
  emittedUntil: number | undefined
  /** The bucket added to last: records mostly arrive in time order, so most adds go to it again. */
  lastStart: number
  last: WindowCounts | undefined
}

export class WindowEngine {
  readonly #opts: WindowEngineOptions
  readonly #keys = new Map<string, KeyState>()
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
    for (const k of this.#keys.values()) n += k.buckets.size
    return n
  }

  add(key: string, eventTime: number, isError: boolean): AddOutcome {
    const start = this.#bucketStart(eventTime)
    // A record is late when the window holding it may already have been emitted.
    if (eventTime < this.watermark && start + this.#opts.slideMs <= this.watermark) {
      this.#late++
      return 'late'
    }
    this.#clock.observe(eventTime)
    let k = this.#keys.get(key)
    if (k === undefined) {
      k = { buckets: new Map(), emittedUntil: undefined, lastStart: Number.NaN, last: undefined }
      this.#keys.set(key, k)
      this.#fresh.add(key)
    }
    let counts = k.lastStart === start ? k.last : undefined
    if (counts === undefined) {
      counts = k.buckets.get(start)
      if (counts === undefined) k.buckets.set(start, (counts = { total: 0, errors: 0 }))
      k.lastStart = start
      k.last = counts
    }
    counts.total++
    if (isError) counts.errors++
    // start < emittedUntil only happens before the key's first emission (emitted ends are ≤ watermark < start + slideMs).
    if (k.emittedUntil === undefined || start < k.emittedUntil) k.emittedUntil = start
    return 'accepted'
  }

  /**
   * Emits every window (per key, in end order) that holds a record and whose end is at or before
   * the watermark, then evicts old buckets.
   */
  advance(): ClosedWindow[] {
    const { windowMs, slideMs, recentMs } = this.#opts
    const wm = this.watermark
    const out: ClosedWindow[] = []
    // Window ends are multiples of slideMs: until the watermark crosses the next one, only keys
    // created since the last pass can have a window to close.
    const boundary = Math.floor(wm / slideMs) * slideMs
    const keys = boundary > this.#advancedTo ? this.#keys.keys() : this.#fresh.values()
    this.#advancedTo = Math.max(this.#advancedTo, boundary)
    for (const key of [...keys]) {
      const k = this.#keys.get(key)
      if (k === undefined) continue
      const byBucket = k.buckets
      for (let end = (k.emittedUntil ?? 0) + slideMs; end <= wm; end = k.emittedUntil + slideMs) {
        const start = end - windowMs
        const counts: WindowCounts = { total: 0, errors: 0 }
        const recent: WindowCounts = { total: 0, errors: 0 }
        const recentFrom = recentMs === undefined ? Number.POSITIVE_INFINITY : end - recentMs
        let held = false
        for (let b = start; b < end; b += slideMs) {
          const c = byBucket.get(b)
          if (c !== undefined) {
            held = true
            counts.total += c.total
            counts.errors += c.errors
            if (b >= recentFrom) {
              recent.total += c.total
              recent.errors += c.errors
            }
          }
        }
        if (!held) {
          // A window without a record breaches no rule: the next one worth closing is the first
          // to hold the next bucket (a record far ahead of the rest would otherwise close every
          // empty window between them, for every key).
          k.emittedUntil = Math.min(this.#nextBucket(byBucket, end), Math.floor(wm / slideMs) * slideMs)
          continue
        }
        out.push(recentMs === undefined ? { key, start, end, ...counts } : { key, start, end, ...counts, recent })
        k.emittedUntil = end
      }
      // Buckets that no future window can contain are dropped to bound state.
      const keepFrom = (k.emittedUntil ?? 0) + slideMs - windowMs
      for (const b of byBucket.keys()) if (b < keepFrom) byBucket.delete(b)
      // No add reaches a dropped bucket (it is behind the watermark); nor is one kept as the last.
      if (k.lastStart < keepFrom) k.last = undefined
      if (byBucket.size === 0) this.#keys.delete(key)
    }
    this.#fresh.clear()
    return out
  }

  get keyCount(): number {
    return this.#keys.size
  }

  hasKey(key: string): boolean {
    return this.#keys.has(key)
  }

  snapshot(): WindowEngineSnapshot {
    const buckets: WindowEngineSnapshot['buckets'] = {}
    const emittedUntil: WindowEngineSnapshot['emittedUntil'] = {}
    for (const [key, k] of this.#keys) {
      buckets[key] = [...k.buckets].map(([b, c]) => [b, c.total, c.errors])
      if (k.emittedUntil !== undefined) emittedUntil[key] = k.emittedUntil
    }
    return {
      maxEventTime: Number.isFinite(this.#clock.maxEventTime) ? this.#clock.maxEventTime : null,
      late: this.#late,
      buckets,
      emittedUntil,
    }
  }

  restore(s: WindowEngineSnapshot): void {
    if (s.maxEventTime !== null) this.#clock.observe(s.maxEventTime)
    this.#advancedTo = Number.NEGATIVE_INFINITY
    this.#late = s.late
    this.#keys.clear()
    // A snapshot names the same keys in both: a key's emittedUntil is set by its first add and
    // dropped with its last bucket.
    for (const [key, list] of Object.entries(s.buckets)) {
      const buckets = new Map(list.map(([b, total, errors]): [number, WindowCounts] => [b, { total, errors }]))
      this.#keys.set(key, { buckets, emittedUntil: s.emittedUntil[key], lastStart: Number.NaN, last: undefined })
    }
    for (const key of this.#keys.keys()) this.#fresh.add(key)
  }

  /** The first bucket of `buckets` at or after `from` (Infinity when none). */
  #nextBucket(buckets: Map<number, WindowCounts>, from: number): number {
    let next = Number.POSITIVE_INFINITY
    for (const b of buckets.keys()) if (b >= from && b < next) next = b
    return next
  }

  #bucketStart(t: number): number {
    return Math.floor(t / this.#opts.slideMs) * this.#opts.slideMs
  }
}
