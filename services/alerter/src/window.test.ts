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

  it('counts every accepted record in each window holding it, whatever the order, advances and restores in between', () => {
    // A jittered stream over a few keys with advances (and a snapshot round trip) at random points:
    // every window emitted must hold exactly the accepted records of its key and time range, and
    // the recent part its share. Checks the engine against counting by hand.
    let seed = 7
    const random = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff)
    for (const opts of [
      { windowMs: 10_000, slideMs: 10_000, allowedLatenessMs: 3_000 },
      { windowMs: 30_000, slideMs: 10_000, allowedLatenessMs: 5_000, recentMs: 10_000 },
    ]) {
      let w = new WindowEngine(opts)
      const accepted: Array<{ key: string; t: number; error: boolean }> = []
      const emitted: ReturnType<WindowEngine['advance']> = []
      let t = 0
      for (let i = 0; i < 5_000; i++) {
        t += Math.floor(random() * 200)
        const at = Math.max(0, t - Math.floor(random() * random() * 8_000))
        const key = `k${Math.floor(random() * 4)}`
        const error = random() < 0.2
        if (w.add(key, at, error) === 'accepted') accepted.push({ key, t: at, error })
        if (random() < 0.02) emitted.push(...w.advance())
        if (random() < 0.002) {
          const restored = new WindowEngine(opts)
          restored.restore(JSON.parse(JSON.stringify(w.snapshot())) as ReturnType<WindowEngine['snapshot']>)
          w = restored
        }
      }
      emitted.push(...w.advance())
      expect(emitted.length).toBeGreaterThan(50)
      const count = (key: string, from: number, to: number) => {
        const inside = accepted.filter((r) => r.key === key && r.t >= from && r.t < to)
        return { total: inside.length, errors: inside.filter((r) => r.error).length }
      }
      for (const e of emitted) {
        expect({ total: e.total, errors: e.errors }).toEqual(count(e.key, e.start, e.end))
        if (opts.recentMs !== undefined) expect(e.recent).toEqual(count(e.key, e.end - opts.recentMs, e.end))
      }
    }
  })

  it('refuses a window that is not a multiple of the slide', () => {
    expect(() => new WindowEngine({ windowMs: 90_000, slideMs: MIN, allowedLatenessMs: 0 })).toThrow(RangeError)
  })

  it('closes only the windows that hold a record when the watermark leaps ahead', () => {
    const w = new WindowEngine({ windowMs: 5 * MIN, slideMs: MIN, allowedLatenessMs: 0 })
    w.add('t/a', 30_000, true)
    w.add('t/b', 90_000, false)
    // Ten days ahead: the ~14 400 minute windows in between, for each key, hold nothing.
    w.add('t/c', 10 * 24 * 60 * MIN + 30_000, false)
    const closed = w.advance()
    expect(closed.filter((c) => c.key === 't/a').map((c) => [c.start / MIN, c.end / MIN, c.total, c.errors])).toEqual([
      [-4, 1, 1, 1],
      [-3, 2, 1, 1],
      [-2, 3, 1, 1],
      [-1, 4, 1, 1],
      [0, 5, 1, 1],
    ])
    expect(closed.filter((c) => c.key === 't/b')).toHaveLength(5)
    expect(closed).toHaveLength(10)
    // Both keys' buckets are gone; the leading one's windows close as time reaches them.
    expect(w.keyCount).toBe(1)
    w.add('t/c', 10 * 24 * 60 * MIN + 5 * MIN, false)
    expect(w.advance().map((c) => [c.key, c.total])).toEqual(Array(5).fill(['t/c', 1]))
  })
})
