import type { Kafka } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { GroupMonitor } from './groups.js'

/** Samples every 250 ms from 0 to `untilMs`; `offsetAt(partition, t)` gives each committed offset. */
function monitor(untilMs: number, offsetAt: (partition: number, t: number) => number): GroupMonitor {
  const m = new GroupMonitor({} as Kafka, [{ group: 'g', topic: 't' }])
  for (let t = 0; t <= untilMs; t += 250) m.record('g', t, new Map([0, 1, 2].map((p) => [p, BigInt(offsetAt(p, t))])))
  return m
}

describe('GroupMonitor.stall', () => {
  it('is the time the slowest partition waited after the fault, not the first partition to move', () => {
    // Partitions 0 and 1 commit every 500 ms throughout; partition 2 stops at 10 s and resumes at 18 s.
    const m = monitor(30_000, (p, t) => (p === 2 && t >= 10_000 && t < 18_000 ? 20 : Math.floor(t / 500)))
    expect(m.stall('g', 10_000, 25_000)).toBe(8000)
  })

  it('is short when every partition keeps moving', () => {
    const m = monitor(30_000, (_p, t) => Math.floor(t / 500))
    expect(m.stall('g', 10_000, 25_000)).toBeLessThanOrEqual(500)
  })

  it('is undefined while a partition that was moving has not moved again', () => {
    const m = monitor(30_000, (p, t) => (p === 1 && t >= 10_000 ? 20 : Math.floor(t / 500)))
    expect(m.stall('g', 10_000, 25_000)).toBeUndefined()
  })

  it('counts a wait that began inside the window in full, even when it ends after the window', () => {
    // Partition 0 stops at 20 s and moves again only at 29 s; the window ends at 25 s.
    const m = monitor(30_000, (p, t) => (p === 0 && t >= 20_000 && t < 29_000 ? 40 : Math.floor(t / 500)))
    expect(m.stall('g', 10_000, 25_000)).toBe(9000)
  })
})
