// The alert evaluator of one input partition: every rule kind over the partition's records, one
// event clock (watermark = newest event time − allowed lateness), and the alert book. Pure and
// deterministic for a given record order (except absence and records dated past maxFutureMs,
// which read the clock they are given), so a partition's state can be checkpointed and a replay
// after a crash reproduces the same alerts.
import type { EnrichedLog } from '@sluice/core'
import { AbsenceTracker } from './absence.js'
import { AlertBook } from './lifecycle.js'
import type { AlertBookSnapshot, BreachInput, RuleRef, Transition } from './lifecycle.js'
import { NewPatternTracker } from './new-pattern.js'
import { evaluateErrorCount, evaluateErrorRate, evaluateLevel, evaluateSpike } from './rules.js'
import type { Breach, Rule, RuleOf, WindowedRule } from './rules.js'
import { EventClock, WindowEngine } from './window.js'
import type { ClosedWindow, WindowEngineSnapshot } from './window.js'

/** The fields of an enriched log the rules read of every record: the alerter decodes only these. */
export const RECORD_FIELDS = ['id', 'tenant', 'service', 'timestamp', 'level', 'is_error', 'pattern_id'] as const
/**
 * Its text. Pattern rules read it for every record; the other rules only for the summary of an
 * alert they raise, so without pattern rules it stays in the record's bytes until one asks.
 */
export const TEXT_FIELDS = ['category', 'template', 'message'] as const
export const ALERT_FIELDS = [...RECORD_FIELDS, ...TEXT_FIELDS] as const
export type RecordFields = Pick<EnrichedLog, (typeof RECORD_FIELDS)[number]>
export type TextFields = Pick<EnrichedLog, (typeof TEXT_FIELDS)[number]>
/** A record as the alerter decodes it: the text too when the rules read it for every record. */
export type AlertFields = RecordFields & Partial<TextFields>

/** Whether some rule reads every record's text (pattern rules), not only an alert's. */
export const readsEveryText = (rules: readonly Rule[]): boolean => rules.some((r) => r.kind === 'pattern')

/** The enriched-log schema cut to `fields`: the reader schema of an Avro projection. */
export function projectionSchema(enrichedSchema: object, fields: readonly string[]): object {
  const s = enrichedSchema as { fields: Array<{ name: string }> }
  return { ...s, fields: s.fields.filter((f) => fields.includes(f.name)) }
}

/** Decodes a record's text from its bytes; undefined until it knows the record's writer schema. */
export interface TextDecoder {
  decodeSync(value: Buffer | null): TextFields | undefined
}

/**
 * An enriched log as the rules read it: the fields of every record, and its text as decoded with
 * them, or — decoded without — read from the record's bytes when first asked.
 */
export class AlertRecord {
  readonly id: string
  readonly tenant: string
  readonly service: string
  readonly timestampMs: number
  readonly level: string
  readonly isError: boolean
  readonly patternId: string
  #text: TextFields | undefined
  readonly #bytes: Buffer | null
  readonly #decoder: TextDecoder | undefined

  constructor(e: RecordFields, text: TextFields | undefined, bytes: Buffer | null = null, decoder?: TextDecoder) {
    this.id = e.id
    this.tenant = e.tenant
    this.service = e.service
    this.timestampMs = Number(e.timestamp / 1_000_000n)
    this.level = e.level
    this.isError = e.is_error
    this.patternId = e.pattern_id
    this.#text = text
    this.#bytes = bytes
    this.#decoder = decoder
  }

  #read(): TextFields {
    this.#text ??= this.#decoder?.decodeSync(this.#bytes)
    // The stage has the decoder resolve every writer schema of a batch before reading it.
    if (this.#text === undefined) throw new Error('the text decoder does not know the record\'s writer schema')
    return this.#text
  }

  get category(): string {
    return this.#read().category
  }

  get template(): string {
    return this.#read().template
  }

  get message(): string {
    return this.#read().message
  }
}

/** The fields of an enriched log the rules read (an AlertRecord, or in tests a plain object). */
export type AlertInput = { readonly [K in keyof AlertRecord]: AlertRecord[K] }

/** The AlertInput of a record decoded with its text. */
export function toAlertInput(e: RecordFields & TextFields): AlertInput {
  return new AlertRecord(e, e)
}

/** The AlertInput of a record decoded without its text: `decoder` reads it from `bytes` when asked. */
export function withDeferredText(e: RecordFields, bytes: Buffer | null, decoder: TextDecoder): AlertInput {
  return new AlertRecord(e, undefined, bytes, decoder)
}

export interface EvaluatorSnapshot {
  maxEventTime: number | null
  late: number
  engines: Record<string, WindowEngineSnapshot>
  firstSeen: Record<string, Record<string, number>>
  samples: Record<string, Record<string, string[]>>
  absence: Record<string, { lastSeenMs: Record<string, number>; absent: string[] }>
  patterns: Record<string, Record<string, string[]>>
  book: AlertBookSnapshot
}

const SAMPLES = 5
const SEP = '\u0000'

interface WindowedState {
  rule: WindowedRule
  engine: WindowEngine
  matches: (r: AlertInput) => boolean
  evaluate: (w: ClosedWindow) => Breach | null
  samples: Map<string, string[]>
  /** spike: first event time per key, so a window is judged only once its whole baseline was observed. */
  firstSeen: Map<string, number> | null
}

const pct = (v: number) => `${(v * 100).toFixed(1)} %`
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`
}
const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}…` : s)

function inScope(rule: Rule, r: { tenant: string; service: string }): boolean {
  return (rule.tenant === undefined || rule.tenant === r.tenant) && (rule.service === undefined || rule.service === r.service)
}

function matcher(rule: WindowedRule): (r: AlertInput) => boolean {
  switch (rule.kind) {
    case 'error_rate':
    case 'error_count':
      return (r) => r.isError
    case 'spike':
      return rule.measure === 'errors' ? (r) => r.isError : () => true
    case 'pattern': {
      const re = rule.regex === undefined ? null : new RegExp(rule.regex)
      return (r) =>
        (rule.patternId === undefined || r.patternId === rule.patternId) &&
        (rule.category === undefined || r.category === rule.category) &&
        (re === null || re.test(r.message) || re.test(r.template))
    }
  }
}

function summarise(rule: WindowedRule, w: ClosedWindow, b: Breach, who: string): string {
  const span = formatDuration(rule.windowMs)
  switch (rule.kind) {
    case 'error_rate':
      return `error rate ${pct(b.value)} (${w.errors}/${w.total}) over ${span} for ${who}, above ${pct(b.threshold)}`
    case 'error_count':
      return `${w.errors} errors over ${span} for ${who} (threshold ${b.threshold})`
    case 'spike':
      return `${rule.measure} +${pct(b.value)} over ${span} vs the trailing ${formatDuration(rule.baselineMs)} for ${who} (threshold +${pct(b.threshold)})`
    case 'pattern': {
      const what = [rule.regex && `/${rule.regex}/`, rule.patternId && `pattern ${rule.patternId}`, rule.category && `category ${rule.category}`].filter(Boolean).join(', ')
      return `${w.errors} records matching ${what} over ${span} for ${who} (threshold ${b.threshold})`
    }
  }
}

export class AlertEvaluator {
  readonly book = new AlertBook()
  readonly #clock: EventClock
  readonly #windowed: WindowedState[] = []
  readonly #level: Array<RuleOf<'level'>> = []
  readonly #newPattern: Array<{ rule: RuleOf<'new_pattern'>; tracker: NewPatternTracker }> = []
  readonly #absence: Array<{ rule: RuleOf<'absence'>; tracker: AbsenceTracker }> = []
  readonly #refs = new Map<string, RuleRef>()
  readonly #maxFutureMs: number
  #late = 0
  #future = 0
  #windowsEvaluated = 0

  /**
   * `maxFutureMs`: a record whose time lies further ahead of the processing time is counted at
   * the processing time instead (a client with a wrong clock would otherwise carry the watermark
   * ahead, and every record after it would be late). Unset: event time as given (tests, replays).
   */
  constructor(rules: readonly Rule[], opts: { allowedLatenessMs: number; maxFutureMs?: number }) {
    this.#clock = new EventClock(opts.allowedLatenessMs)
    this.#maxFutureMs = opts.maxFutureMs ?? Number.POSITIVE_INFINITY
    for (const rule of rules) {
      this.#refs.set(rule.id, { id: rule.id, name: rule.name, kind: rule.kind, severity: rule.severity, resolveHoldMs: rule.resolveHoldMs, updateIntervalMs: rule.updateIntervalMs, cooldownMs: rule.cooldownMs })
      switch (rule.kind) {
        case 'level':
          this.#level.push(rule)
          break
        case 'new_pattern':
          this.#newPattern.push({ rule, tracker: new NewPatternTracker() })
          break
        case 'absence':
          this.#absence.push({ rule, tracker: new AbsenceTracker(rule.silentMs) })
          break
        default: {
          const spike = rule.kind === 'spike'
          const engine = new WindowEngine(
            { windowMs: spike ? rule.baselineMs + rule.windowMs : rule.windowMs, slideMs: rule.slideMs, allowedLatenessMs: opts.allowedLatenessMs, ...(spike && { recentMs: rule.windowMs }) },
            this.#clock,
          )
          const evaluate = (w: ClosedWindow): Breach | null => {
            switch (rule.kind) {
              case 'error_rate':
                return evaluateErrorRate(rule, w)
              case 'spike':
                return evaluateSpike(rule, w)
              default:
                return evaluateErrorCount(rule, w)
            }
          }
          this.#windowed.push({ rule, engine, matches: matcher(rule), evaluate, samples: new Map(), firstSeen: spike ? new Map() : null })
        }
      }
    }
  }

  get watermark(): number {
    return this.#clock.watermark
  }

  /** Takes one record; returns what fires at once (level, new pattern) and absence recoveries. */
  process(r: AlertInput, nowMs: number): Transition[] {
    const out: Transition[] = []
    const key = r.tenant + SEP + r.service
    let at = r.timestampMs
    if (at - nowMs > this.#maxFutureMs) {
      this.#future++
      at = nowMs
    }
    const wasLate = at < this.#clock.watermark
    this.#clock.observe(at)
    let late = false
    for (const s of this.#windowed) {
      if (!inScope(s.rule, r)) continue
      const hit = s.matches(r)
      if (s.engine.add(key, at, hit) === 'late') {
        late = true
        continue
      }
      if (hit) {
        let samples = s.samples.get(key)
        if (samples === undefined) s.samples.set(key, (samples = []))
        samples.push(r.id)
        if (samples.length > SAMPLES) samples.shift()
      }
      if (s.firstSeen !== null && !s.firstSeen.has(key)) s.firstSeen.set(key, at)
    }
    if (late || (wasLate && this.#windowed.length === 0)) this.#late++
    for (const rule of this.#level) {
      if (inScope(rule, r) && evaluateLevel(rule, r.level)) {
        this.#push(out, { rule: this.#ref(rule.id), tenant: r.tenant, service: r.service, patternId: null, value: 1, threshold: 1, windowStartMs: at, windowEndMs: at, summary: () => `${r.level} log from ${r.tenant}/${r.service}: ${clip(r.message)}`, sampleLogIds: [r.id] }, at)
      }
    }
    for (const { rule, tracker } of this.#newPattern) {
      if (inScope(rule, r) && tracker.observe(key, r.patternId, r.level)) {
        this.#push(out, { rule: this.#ref(rule.id), tenant: r.tenant, service: r.service, patternId: r.patternId, value: 1, threshold: 1, windowStartMs: at, windowEndMs: at, summary: () => `new ${r.level} pattern for ${r.tenant}/${r.service}: ${clip(r.template)}`, sampleLogIds: [r.id] }, at)
      }
    }
    for (const { rule, tracker } of this.#absence) {
      if (inScope(rule, r) && tracker.seen(key, nowMs)) {
        const t = this.book.resolve(this.#absenceId(rule, r.tenant, r.service), nowMs, `${r.tenant}/${r.service} is sending logs again`)
        if (t !== null) out.push(t)
      }
    }
    return out
  }

  /** Closes the windows the watermark passed, evaluates them, then resolves what stayed clear long enough. */
  advance(): Transition[] {
    const out: Transition[] = []
    for (const s of this.#windowed) {
      for (const w of s.engine.advance()) {
        this.#windowsEvaluated++
        if (s.firstSeen !== null) {
          const first = s.firstSeen.get(w.key)
          if (first === undefined || first >= w.start + s.rule.slideMs) continue
        }
        const b = s.evaluate(w)
        if (b === null) continue
        const [tenant = '', service = ''] = w.key.split(SEP)
        const who = `${tenant}/${service}`
        const patternId = s.rule.kind === 'pattern' ? (s.rule.patternId ?? null) : null
        this.#push(out, { rule: this.#ref(s.rule.id), tenant, service, patternId, value: b.value, threshold: b.threshold, windowStartMs: s.rule.kind === 'spike' ? w.end - s.rule.windowMs : w.start, windowEndMs: w.end, summary: summarise(s.rule, w, b, who), sampleLogIds: [...(s.samples.get(w.key) ?? [])] }, w.end)
      }
      // Keys the engine evicted no longer need samples or first-seen times.
      if (s.samples.size > s.engine.keyCount) for (const k of s.samples.keys()) if (!s.engine.hasKey(k)) s.samples.delete(k)
    }
    out.push(...this.book.sweep(this.#clock.watermark))
    return out
  }

  /** Processing-time check of the absence rules. */
  checkAbsence(nowMs: number): Transition[] {
    const out: Transition[] = []
    for (const { rule, tracker } of this.#absence) {
      for (const key of tracker.check(nowMs)) {
        const [tenant = '', service = ''] = key.split(SEP)
        this.#push(out, { rule: this.#ref(rule.id), tenant, service, patternId: null, value: rule.silentMs / 1000, threshold: rule.silentMs / 1000, windowStartMs: nowMs - rule.silentMs, windowEndMs: nowMs, summary: `no logs from ${tenant}/${service} for more than ${formatDuration(rule.silentMs)}`, sampleLogIds: [] }, nowMs)
      }
    }
    return out
  }

  acknowledge(id: string, by: string, nowMs: number): Transition | null {
    return this.book.acknowledge(id, by, nowMs)
  }

  get lateRecords(): number {
    return this.#late
  }

  /** Records dated more than maxFutureMs ahead of the processing time, counted at it (sluice_alerter_future_records_total). */
  get futureRecords(): number {
    return this.#future
  }

  get windowsEvaluated(): number {
    return this.#windowsEvaluated
  }

  /** Entries held: window buckets, known patterns, absence keys, alerts. */
  get stateSize(): number {
    let n = this.book.size
    for (const s of this.#windowed) n += s.engine.stateSize
    for (const p of this.#newPattern) n += p.tracker.size
    for (const a of this.#absence) n += a.tracker.size
    return n
  }

  snapshot(): EvaluatorSnapshot {
    const max = this.#clock.maxEventTime
    return {
      maxEventTime: Number.isFinite(max) ? max : null,
      late: this.#late,
      engines: Object.fromEntries(this.#windowed.map((s) => [s.rule.id, s.engine.snapshot()])),
      firstSeen: Object.fromEntries(this.#windowed.filter((s) => s.firstSeen !== null).map((s) => [s.rule.id, Object.fromEntries(s.firstSeen ?? [])])),
      samples: Object.fromEntries(this.#windowed.map((s) => [s.rule.id, Object.fromEntries(s.samples)])),
      absence: Object.fromEntries(this.#absence.map((a) => [a.rule.id, a.tracker.snapshot()])),
      patterns: Object.fromEntries(this.#newPattern.map((p) => [p.rule.id, p.tracker.snapshot()])),
      book: this.book.snapshot(),
    }
  }

  /** Restores a snapshot; state of rules that no longer exist is ignored, new rules start empty. */
  restore(s: EvaluatorSnapshot, nowMs: number): void {
    if (s.maxEventTime !== null) this.#clock.observe(s.maxEventTime)
    this.#late = s.late
    for (const w of this.#windowed) {
      const e = s.engines[w.rule.id]
      if (e !== undefined) w.engine.restore(e)
      const f = s.firstSeen[w.rule.id]
      if (f !== undefined && w.firstSeen !== null) for (const [k, t] of Object.entries(f)) w.firstSeen.set(k, t)
      for (const [k, ids] of Object.entries(s.samples[w.rule.id] ?? {})) w.samples.set(k, [...ids])
    }
    for (const a of this.#absence) {
      const t = s.absence[a.rule.id]
      if (t !== undefined) a.tracker.restore(t, nowMs)
    }
    for (const p of this.#newPattern) {
      const t = s.patterns[p.rule.id]
      if (t !== undefined) p.tracker.restore(t)
    }
    this.book.restore(s.book)
  }

  #ref(ruleId: string): RuleRef {
    const ref = this.#refs.get(ruleId)
    if (ref === undefined) throw new Error(`unknown rule ${ruleId}`)
    return ref
  }

  #absenceId(rule: RuleOf<'absence'>, tenant: string, service: string): string {
    return this.book.idOf(rule.id, tenant, service, null)
  }

  #push(out: Transition[], b: BreachInput, atMs: number): void {
    const t = this.book.breach(b, atMs)
    if (t !== null) out.push(t)
  }
}
