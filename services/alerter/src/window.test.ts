import { describe, expect, it } from 'vitest'
import { WindowEngine } from './window.js'

const MIN = 60_000

describe('WindowEngine', () => {
  it('emits a tumbling window once the watermark passes its end', () => {
    const w = new WindowEngine({ windowMs: MIN, slideMs: MIN, allowedLatenessMs: 10_000 })
    w.add('t/a', 1_000, false)
    w.add('t/a', 2_000, true)
    w.add('t/a', 65_000, false)
    // watermark = 55 000: the [0, 60 000) window is still open
    expect(w.advance()).toEqual([])
    w.add('t/a', 70_000, false)
    // watermark = 60 000: closed
    expect(w.advance()).toEqual([{ key: 't/a', start: 0, end: MIN, total: 2, errors: 1 }])
    expect(w.advance()).toEqual([])
  })

  it('counts an out-of-order record inside the allowed lateness in its own window', () => {
    const w = new WindowEngine({ windowMs: MIN, slideMs: MIN, allowedLatenessMs: 30_000 })
    w.add('t/a', 70_000, false)
    expect(w.add('t/a', 50_000, true)).toBe('accepted')
    w.add('t/a', 95_000, false)
    expect(w.advance()).toEqual([{ key: 't/a', start: 0, end: MIN, total: 1, errors: 1 }])
    expect(w.lateRecords).toBe(0)
  })

  it('rejects and counts a record whose window is behind the watermark', () => {
    const w = new WindowEngine({ windowMs: MIN, slideMs: MIN, allowedLatenessMs: 5_000 })
    w.add('t/a', 130_000, false)
    expect(w.add('t/a', 30_000, true)).toBe('late')
    expect(w.lateRecords).toBe(1)
    w.add('t/a', 185_000, false)
    expect(w.advance()).toEqual([{ key: 't/a', start: 120_000, end: 180_000, total: 1, errors: 0 }])
  })

  it('sums buckets into sliding windows that advance by the slide', () => {
    const w = new WindowEngine({ windowMs: 3 * MIN, slideMs: MIN, allowedLatenessMs: 0 })
    w.add('t/a', 10_000, true) // bucket 0
    w.add('t/a', 70_000, false) // bucket 1
    w.add('t/a', 130_000, true) // bucket 2
    w.add('t/a', 250_000, false) // bucket 4, watermark 250 000
    expect(w.advance()).toEqual([
      { key: 't/a', start: -2 * MIN, end: MIN, total: 1, errors: 1 },
      { key: 't/a', start: -MIN, end: 2 * MIN, total: 2, errors: 1 },
      { key: 't/a', start: 0, end: 3 * MIN, total: 3, errors: 2 },
      { key: 't/a', start: MIN, end: 4 * MIN, total: 2, errors: 1 },
    ])
    // the next window is [2 min, 5 min): buckets 0 and 1 are evicted, 2 and 4 remain
    expect(w.stateSize).toBe(2)
  })

  it('keeps keys independent under one shared watermark', () => {
    const w = new WindowEngine({ windowMs: MIN, slideMs: MIN, allowedLatenessMs: 0 })
    w.add('t/a', 1_000, true)
    w.add('t/b', 2_000, false)
    w.add('t/b', 61_000, false)
    expect(w.advance()).toEqual([
      { key: 't/a', start: 0, end: MIN, total: 1, errors: 1 },
      { key: 't/b', start: 0, end: MIN, total: 1, errors: 0 },
    ])
    expect(w.stateSize).toBe(1)
  })

  it('refuses a window that is not a multiple of the slide', () => {
    expect(() => new WindowEngine({ windowMs: 90_000, slideMs: MIN, allowedLatenessMs: 0 })).toThrow(RangeError)
  })
})
