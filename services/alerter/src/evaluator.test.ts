import { describe, expect, it } from 'vitest'
import { AlertEvaluator } from './evaluator.js'
import type { AlertInput } from './evaluator.js'
import type { Transition } from './lifecycle.js'
import { parseRules } from './rules.js'

const S = 1000
const MIN = 60 * S
// A minute-aligned epoch, so window boundaries are round numbers relative to T0.
const T0 = 28_333_340 * MIN
const ns = (ms: number) => BigInt(ms) * 1_000_000n

function rules(...list: object[]) {
  return parseRules(JSON.stringify({ rules: list })).rules
}

let seq = 0
function rec(offsetMs: number, over: Partial<AlertInput> = {}): AlertInput {
  return { id: `log-${seq++}`, tenant: 't', service: 'api', timestampMs: T0 + offsetMs, level: 'INFO', isError: false, category: 'unknown', patternId: 'p-ok', template: 'ok', message: 'ok', ...over }
}
const err = (offsetMs: number, over: Partial<AlertInput> = {}) => rec(offsetMs, { level: 'ERROR', isError: true, patternId: 'p-err', template: 'boom <*>', message: 'boom 1', ...over })

interface Seen {
  /** Offset from T0 of the record after which the transition was emitted. */
  after: number
  t: Transition
}

/** Feeds records in order, advancing after each one, like the service does after each batch. */
function run(ev: AlertEvaluator, records: AlertInput[], nowMs = 0): Seen[] {
  const out: Seen[] = []
  for (const r of records) {
    for (const t of [...ev.process(r, nowMs), ...ev.advance()]) out.push({ after: r.timestampMs - T0, t })
  }
  return out
}

const summary = (s: Seen[]) => s.map(({ after, t }) => ({ after, status: t.alert.status, version: t.alert.version, notify: t.notify }))

describe('AlertEvaluator: error_rate over a sliding window', () => {
  // 5-min windows sliding by 1 min, > 5 % with at least 20 records, hold 2 min, lateness 10 s.
  const rule = { id: 'rate', name: 'Error rate', kind: 'error_rate', windowMs: 5 * MIN, slideMs: MIN, resolveHoldMs: 2 * MIN, updateIntervalMs: MIN }
  // One record per second for 15 minutes; the minute [2 min, 3 min) is all errors.
  const stream = () => Array.from({ length: 900 }, (_, i) => (i >= 120 && i < 180 ? err(i * S) : rec(i * S)))

  it('fires when the first window holding the errors closes, updates once a minute, resolves after the hold', () => {
    const ev = new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S })
    const seen = run(ev, stream())
    // Window [−2 min, 3 min) closes once the watermark (newest − 10 s) reaches 3 min: record at 3:10.
    // Windows ending 4..7 min still hold the error minute; the last one ends at 7 min, so the
    // alert resolves at 7 min + 2 min hold = 9 min, noticed when the watermark gets there (9:10).
    expect(summary(seen)).toEqual([
      { after: 190 * S, status: 'firing', version: 1, notify: true },
      { after: 250 * S, status: 'firing', version: 2, notify: false },
      { after: 310 * S, status: 'firing', version: 3, notify: false },
      { after: 370 * S, status: 'firing', version: 4, notify: false },
      { after: 430 * S, status: 'firing', version: 5, notify: false },
      { after: 550 * S, status: 'resolved', version: 6, notify: true },
    ])
    const fired = seen[0]!.t.alert
    expect(fired).toMatchObject({ rule_id: 'rate', rule_kind: 'error_rate', tenant: 't', service: 'api', threshold: 0.05, window_start: ns(T0 - 2 * MIN), window_end: ns(T0 + 3 * MIN), started_at: ns(T0 + 3 * MIN) })
    expect(fired.value).toBeCloseTo(60 / 180)
    expect(fired.summary).toBe('error rate 33.3 % (60/180) over 5m for t/api, above 5.0 %')
    expect(fired.sample_log_ids).toHaveLength(5)
    const resolved = seen.at(-1)!.t.alert
    expect(resolved).toMatchObject({ id: fired.id, resolved_at: ns(T0 + 9 * MIN), started_at: ns(T0 + 3 * MIN) })
    expect(ev.book.open()).toEqual([])
  })

  it('does not fire below the minimum volume even at 100 % errors', () => {
    const ev = new AlertEvaluator(rules({ ...rule, minRecords: 20 }), { allowedLatenessMs: 0 })
    const records = [...Array.from({ length: 19 }, (_, i) => err(i * S)), rec(20 * MIN)]
    expect(run(ev, records)).toEqual([])
  })

  it('keeps separate alerts per service', () => {
    const ev = new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S })
    const records = stream().flatMap((r) => [r, { ...r, id: `${r.id}-w`, service: 'web', isError: false, level: 'INFO' }])
    const seen = run(ev, records)
    expect(new Set(seen.map((s) => s.t.alert.service))).toEqual(new Set(['api']))
  })
})

describe('AlertEvaluator: out-of-order and late records', () => {
  const rule = { id: 'count', name: 'Errors', kind: 'error_count', windowMs: MIN, slideMs: MIN, threshold: 3, resolveHoldMs: MIN }

  it('counts out-of-order records within the lateness, counts late ones in a metric and leaves them out', () => {
    const ev = new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S })
    const seen = run(ev, [
      err(5 * S),
      rec(61 * S),
      err(55 * S), // out of order, watermark 51 s: still counted in [0, 1 min)
      rec(70 * S), // watermark 60 s: [0, 1 min) closes with 2 errors
      err(58 * S), // its window already closed: late
      err(62 * S),
      err(119 * S),
      err(64 * S), // out of order inside [1 min, 2 min)
      rec(130 * S), // watermark 120 s: [1 min, 2 min) closes with 3 errors
    ])
    expect(ev.lateRecords).toBe(1)
    expect(summary(seen)).toEqual([{ after: 130 * S, status: 'firing', version: 1, notify: true }])
    expect(seen[0]!.t.alert).toMatchObject({ value: 3, window_start: ns(T0 + MIN), window_end: ns(T0 + 2 * MIN) })
  })
})

describe('AlertEvaluator: per-record kinds', () => {
  it('level: fires on the FATAL record itself, folds repeats into the incident, resolves after the hold, then cools down', () => {
    const ev = new AlertEvaluator(rules({ id: 'fatal', name: 'FATAL', kind: 'level', resolveHoldMs: MIN, updateIntervalMs: MIN, cooldownMs: 5 * MIN }), { allowedLatenessMs: 0 })
    const fatal = (at: number) => rec(at, { level: 'FATAL', isError: true, message: 'disk gone' })
    const seen = run(ev, [
      rec(0),
      fatal(10 * S), // fires at once
      fatal(20 * S), // same incident, within the update interval: nothing new
      rec(75 * S), // 65 s after the last FATAL: not yet clear for the full minute after 20 s
      rec(80 * S), // watermark 80 s = 20 s + 1 min: resolved
      fatal(3 * MIN), // inside the 5-min cooldown after 80 s: suppressed
      fatal(7 * MIN), // after the cooldown: a new incident of the same alert id
    ])
    expect(summary(seen)).toEqual([
      { after: 10 * S, status: 'firing', version: 1, notify: true },
      { after: 80 * S, status: 'resolved', version: 2, notify: true },
      { after: 7 * MIN, status: 'firing', version: 3, notify: true },
    ])
    expect(seen[0]!.t.alert.summary).toBe('FATAL log from t/api: disk gone')
    expect(seen[1]!.t.alert.resolved_at).toBe(ns(T0 + 80 * S))
    expect(new Set(seen.map((s) => s.t.alert.id)).size).toBe(1)
    expect(ev.book.suppressed).toBe(1)
  })

  it('level: reads a record\'s message only for the breaches that write the alert, not for the repeats folded into it', () => {
    const ev = new AlertEvaluator(rules({ id: 'errors', name: 'ERROR', kind: 'level', level: 'ERROR', updateIntervalMs: MIN }), { allowedLatenessMs: 0 })
    let reads = 0
    // A record whose text is decoded when read, as the service's records with deferred text are.
    const counted = (at: number, message: string): AlertInput => {
      const r = err(at)
      return Object.defineProperty(r, 'message', { get: () => (reads++, message) })
    }
    const seen = run(ev, [counted(0, 'first'), counted(10 * S, 'second'), counted(20 * S, 'third'), counted(70 * S, 'fourth')])
    expect(seen.map((s) => s.t.alert.summary)).toEqual(['ERROR log from t/api: first', 'ERROR log from t/api: fourth'])
    expect(reads).toBe(2)
  })

  it('new_pattern: fires once per template first seen at ERROR, not for templates known from lower levels', () => {
    const ev = new AlertEvaluator(rules({ id: 'new', name: 'New error pattern', kind: 'new_pattern' }), { allowedLatenessMs: 0 })
    const seen = run(ev, [
      rec(0, { patternId: 'p1', template: 'user <*> logged in' }),
      err(S, { patternId: 'p1' }), // known from INFO
      err(2 * S, { patternId: 'p2', template: 'db timeout after <NUM> ms' }),
      err(3 * S, { patternId: 'p2' }),
      err(4 * S, { patternId: 'p2', service: 'web' }), // new for another service
    ])
    expect(seen.map((s) => [s.t.alert.service, s.t.alert.pattern_id, s.t.alert.status])).toEqual([
      ['api', 'p2', 'firing'],
      ['web', 'p2', 'firing'],
    ])
    expect(seen[0]!.t.alert.summary).toBe('new ERROR pattern for t/api: db timeout after <NUM> ms')
    expect(seen[0]!.t.alert.id).not.toBe(seen[1]!.t.alert.id)
  })

  it('pattern: counts records matching a regex per window against the threshold', () => {
    const ev = new AlertEvaluator(rules({ id: 'oom', name: 'OOM', kind: 'pattern', regex: 'OutOfMemory', threshold: 2, windowMs: MIN, slideMs: MIN }), { allowedLatenessMs: 0 })
    const seen = run(ev, [
      rec(S, { message: 'java.lang.OutOfMemoryError: heap' }),
      rec(2 * MIN + S, { message: 'java.lang.OutOfMemoryError: heap' }),
      rec(2 * MIN + 2 * S, { message: 'java.lang.OutOfMemoryError: metaspace' }),
      rec(3 * MIN),
    ])
    expect(seen.map((s) => [s.after, s.t.alert.status, s.t.alert.value])).toEqual([[3 * MIN, 'firing', 2]])
    expect(seen[0]!.t.alert.summary).toBe('2 records matching /OutOfMemory/ over 1m for t/api (threshold 2)')
  })
})

describe('AlertEvaluator: spike against a trailing baseline', () => {
  it('fires when errors in the last minute beat the 10-minute baseline rate by more than 50 %', () => {
    const ev = new AlertEvaluator(rules({ id: 'spike', name: 'Spike', kind: 'spike', windowMs: MIN, slideMs: MIN, baselineMs: 10 * MIN, increaseRatio: 0.5, minRecords: 5 }), { allowedLatenessMs: 0 })
    const records: AlertInput[] = []
    // two errors a minute for 10 minutes, then 10 in minute 10, then back to two
    for (let m = 0; m < 14; m++) {
      const n = m === 10 ? 10 : 2
      for (let i = 0; i < n; i++) records.push(err(m * MIN + i * S))
    }
    records.push(rec(14 * MIN))
    const seen = run(ev, records)
    expect(seen[0]).toMatchObject({ after: 11 * MIN })
    expect(seen[0]!.t.alert).toMatchObject({ status: 'firing', threshold: 0.5, window_start: ns(T0 + 10 * MIN), window_end: ns(T0 + 11 * MIN) })
    // 10/min against 20 per 10 min = 2/min: +400 %
    expect(seen[0]!.t.alert.value).toBeCloseTo(4)
  })

  it('does not judge a service before it has a full baseline', () => {
    const ev = new AlertEvaluator(rules({ id: 'spike', name: 'Spike', kind: 'spike', windowMs: MIN, slideMs: MIN, baselineMs: 10 * MIN, minRecords: 5 }), { allowedLatenessMs: 0 })
    const records = [err(0), ...Array.from({ length: 30 }, (_, i) => err(2 * MIN + i * S)), rec(5 * MIN)]
    expect(run(ev, records)).toEqual([])
  })
})

describe('AlertEvaluator: records dated ahead of the processing time', () => {
  it('counts a record more than maxFutureMs ahead at the processing time, so it cannot carry the watermark away', () => {
    const rule = { id: 'errors', name: 'Errors', kind: 'error_count', threshold: 3, windowMs: MIN, slideMs: MIN }
    const ev = new AlertEvaluator(rules(rule), { allowedLatenessMs: 0, maxFutureMs: 10 * MIN })
    const now = T0 + 30 * S
    ev.process(rec(0), now)
    // A client clock ten days fast: counted at `now`.
    ev.process(err(10 * 24 * 60 * MIN), now)
    expect(ev.futureRecords).toBe(1)
    expect(ev.watermark).toBe(now)
    // What follows is on time, not late, and fires.
    const fired = run(ev, [err(40 * S), err(50 * S), rec(2 * MIN)], now)
    expect(ev.lateRecords).toBe(0)
    expect(fired.map((s) => [s.t.alert.status, s.t.alert.summary])).toEqual([['firing', '3 errors over 1m for t/api (threshold 3)']])
    // Within the limit, a record keeps its own time.
    ev.process(rec(9 * MIN), T0)
    expect(ev.futureRecords).toBe(1)
    expect(ev.watermark).toBe(T0 + 9 * MIN)
  })

  it('without maxFutureMs, takes every record at its own time', () => {
    const ev = new AlertEvaluator(rules({ id: 'errors', name: 'Errors', kind: 'error_count', threshold: 1, windowMs: MIN, slideMs: MIN }), { allowedLatenessMs: 0 })
    ev.process(rec(10 * 24 * 60 * MIN), 0)
    expect(ev.futureRecords).toBe(0)
    expect(ev.watermark).toBe(T0 + 10 * 24 * 60 * MIN)
  })
})

describe('AlertEvaluator: absence (processing time)', () => {
  it('reports a known service silent for longer than the limit once, and resolves when it is heard again', () => {
    const ev = new AlertEvaluator(rules({ id: 'gone', name: 'Service unavailable', kind: 'absence', silentMs: 10 * MIN }), { allowedLatenessMs: 0 })
    ev.process(rec(0), 0)
    ev.process(rec(0, { service: 'web' }), 5 * MIN)
    expect(ev.checkAbsence(10 * MIN)).toEqual([])
    const fired = ev.checkAbsence(10 * MIN + 1)
    expect(fired.map((t) => [t.alert.service, t.alert.status, t.notify])).toEqual([['api', 'firing', true]])
    expect(fired[0]!.alert.summary).toBe('no logs from t/api for more than 10m')
    expect(ev.checkAbsence(11 * MIN)).toEqual([])
    const back = ev.process(rec(S), 12 * MIN)
    expect(back.map((t) => [t.alert.id, t.alert.status, t.alert.resolved_at])).toEqual([[fired[0]!.alert.id, 'resolved', ns(12 * MIN)]])
  })
})

describe('AlertEvaluator: checkpoint and restore', () => {
  it('continues a firing alert after a restore exactly as if it had never stopped', () => {
    const rule = { id: 'rate', name: 'Error rate', kind: 'error_rate', windowMs: 5 * MIN, slideMs: MIN, resolveHoldMs: 2 * MIN, updateIntervalMs: MIN }
    const records = Array.from({ length: 900 }, (_, i) => (i >= 120 && i < 180 ? err(i * S, { id: `e${i}` }) : rec(i * S, { id: `r${i}` })))
    const whole = run(new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S }), records)

    const first = new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S })
    const before = run(first, records.slice(0, 300)) // stops while the alert is firing
    expect(first.book.open()).toHaveLength(1)
    const checkpoint = JSON.parse(JSON.stringify(first.snapshot())) as ReturnType<AlertEvaluator['snapshot']>
    const second = new AlertEvaluator(rules(rule), { allowedLatenessMs: 10 * S })
    second.restore(checkpoint, 0)
    const after = run(second, records.slice(300))
    expect([...before, ...after].map((s) => ({ after: s.after, alert: s.t.alert }))).toEqual(whole.map((s) => ({ after: s.after, alert: s.t.alert })))
    expect(after.filter((s) => s.t.alert.status === 'firing' && s.t.notify)).toEqual([])
  })

  it('keeps delivered versions so a restored book only re-sends what was not delivered', () => {
    const ev = new AlertEvaluator(rules({ id: 'fatal', name: 'FATAL', kind: 'level' }), { allowedLatenessMs: 0 })
    const [fired] = ev.process(rec(0, { level: 'FATAL' }), 0)
    ev.process(rec(S, { level: 'FATAL', service: 'web' }), 0)
    ev.book.markNotified(fired!.alert.id, fired!.alert.version)
    const restored = new AlertEvaluator(rules({ id: 'fatal', name: 'FATAL', kind: 'level' }), { allowedLatenessMs: 0 })
    restored.restore(JSON.parse(JSON.stringify(ev.snapshot())) as ReturnType<AlertEvaluator['snapshot']>, 0)
    expect(restored.book.undelivered().map((a) => a.service)).toEqual(['web'])
    expect(restored.book.get(fired!.alert.id)).toEqual(fired!.alert)
  })
})

describe('AlertEvaluator: acknowledge', () => {
  it('moves a firing alert to acknowledged with a new version and notifies', () => {
    const ev = new AlertEvaluator(rules({ id: 'fatal', name: 'FATAL', kind: 'level' }), { allowedLatenessMs: 0 })
    const [fired] = ev.process(rec(0, { level: 'FATAL' }), 0)
    const ack = ev.acknowledge(fired!.alert.id, 'oncall', 5_000)
    expect(ack).toMatchObject({ notify: true, alert: { status: 'acknowledged', acknowledged_by: 'oncall', version: 2 } })
    expect(ev.acknowledge(fired!.alert.id, 'oncall', 6_000)).toBeNull()
    expect(ev.acknowledge('nope', 'oncall', 6_000)).toBeNull()
  })
})
