import { describe, expect, it } from 'vitest'
import { AbsenceTracker } from './absence.js'

const MIN = 60_000

describe('AbsenceTracker', () => {
  it('reports a known service once after it stays silent longer than the limit, and clears it when it speaks', () => {
    const t = new AbsenceTracker(10 * MIN)
    t.seen('t/a', 0)
    t.seen('t/b', 5 * MIN)
    expect(t.check(10 * MIN)).toEqual([])
    expect(t.check(10 * MIN + 1)).toEqual(['t/a'])
    expect(t.check(12 * MIN)).toEqual([])
    expect(t.seen('t/a', 13 * MIN)).toBe(true)
    expect(t.check(15 * MIN + 1)).toEqual(['t/b'])
    expect(t.seen('t/b', 16 * MIN)).toBe(true)
    expect(t.seen('t/b', 17 * MIN)).toBe(false)
  })

  it('never reports a service it has not seen', () => {
    expect(new AbsenceTracker(MIN).check(10 * MIN)).toEqual([])
  })
})
