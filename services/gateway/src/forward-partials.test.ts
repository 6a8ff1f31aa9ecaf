// Lines Docker cut into parts, joined: as the parts come, in order, bounded, and cut when the
// last part does not come. The listener's side (acks, the connection's end) is in forward.test.ts.
import { describe, expect, it } from 'vitest'
import { PartialLines } from './forward-partials.js'
import type { PartialOptions, Tagged } from './forward-partials.js'

const OPTS: PartialOptions = { waitMs: 1000, maxLineChars: 1000, maxHeldChars: 10_000, maxLines: 8 }

/** An event as Docker's fluentd driver writes it: a part when `part` is given. */
function ev(t: number, log: string, part?: { id: string; ordinal: number; last: boolean }) {
  const record: Record<string, unknown> = { container_id: 'c1', container_name: '/web', source: 'stdout', log }
  if (part) Object.assign(record, { partial_message: 'true', partial_id: part.id, partial_ordinal: String(part.ordinal), partial_last: String(part.last) })
  return { timeNs: BigInt(t), record }
}
const logs = (ts: Tagged[]) => ts.flatMap((t) => t.events.map((e) => e.record.log))

function lines(opts: Partial<PartialOptions> = {}) {
  let now = 0
  const outcomes: boolean[] = []
  const p = new PartialLines({ ...OPTS, ...opts }, (whole) => void outcomes.push(whole), () => now)
  return { p, outcomes, advance: (ms: number) => void (now += ms) }
}

describe('partial lines', () => {
  it("joins a line's parts into the first part's record, whole events passing at once", () => {
    const { p, outcomes } = lines()
    expect(p.take('docker.c1', [ev(1, 'aaa', { id: 'x', ordinal: 1, last: false }), ev(2, 'whole line')])).toEqual([{ tag: 'docker.c1', events: [ev(2, 'whole line')] }])
    expect(p.size).toBe(1)
    const [done] = p.take('docker.c1', [ev(3, 'bbb', { id: 'x', ordinal: 2, last: false }), ev(4, 'ccc', { id: 'x', ordinal: 3, last: true })])
    expect(done!.events).toEqual([{ timeNs: 1n, record: { container_id: 'c1', container_name: '/web', source: 'stdout', log: 'aaabbbccc' } }])
    expect(p.size).toBe(0)
    expect(outcomes).toEqual([true])
  })

  it('keeps lines of different ids and tags apart, and puts parts in their ordinal order', () => {
    const { p } = lines()
    p.take('a', [ev(1, 'o1-', { id: 'x', ordinal: 1, last: false }), ev(1, 'e1-', { id: 'y', ordinal: 1, last: false })])
    p.take('b', [ev(1, 'b1-', { id: 'x', ordinal: 1, last: false })])
    // Ordinals out of arrival order are put right; booleans as Fluent Bit writes them are read too.
    const y = p.take('a', [{ timeNs: 2n, record: { log: 'e3', partial_message: true, partial_id: 'y', partial_ordinal: 3, partial_last: true } }, ev(2, 'o2', { id: 'x', ordinal: 2, last: true })])
    expect(logs(y)).toEqual(['e1-e3', 'o1-o2'])
    expect(p.size).toBe(1)
    expect(logs(p.take('b', [ev(2, 'b2', { id: 'x', ordinal: 2, last: true })]))).toEqual(['b1-b2'])
  })

  it('reads no part where the fields are not a part: no id, no text, or partial_message not true', () => {
    const { p } = lines()
    const odd = [
      { timeNs: 1n, record: { log: 'a', partial_message: 'true' } },
      { timeNs: 1n, record: { log: 7, partial_message: 'true', partial_id: 'x' } },
      { timeNs: 1n, record: { log: 'b', partial_message: 'false', partial_id: 'x' } },
      { timeNs: 1n, record: { log: 'c', partial_message: 'true', partial_id: '' } },
    ]
    expect(p.take('t', odd)).toEqual([{ tag: 't', events: odd }])
    expect(p.size).toBe(0)
  })

  it("joins journald's parts too (Fluent Bit's systemd input): MESSAGE, CONTAINER_PARTIAL_*, no message mark on the last", () => {
    const { p, advance } = lines()
    const entry = (t: number, MESSAGE: string, id: string, ordinal: number, last: boolean) => ({
      timeNs: BigInt(t),
      record: { MESSAGE, CONTAINER_NAME: 'web', PRIORITY: '6', CONTAINER_PARTIAL_ID: id, CONTAINER_PARTIAL_ORDINAL: String(ordinal), CONTAINER_PARTIAL_LAST: String(last), ...(!last && { CONTAINER_PARTIAL_MESSAGE: 'true' }) },
    })
    expect(logs(p.take('systemd', [entry(1, 'aaa', 'j1', 1, false)]))).toEqual([])
    const [done] = p.take('systemd', [entry(2, 'bbb', 'j1', 2, true)])
    expect(done!.events).toEqual([{ timeNs: 1n, record: { MESSAGE: 'aaabbb', CONTAINER_NAME: 'web', PRIORITY: '6' } }])
    // An id with neither mark is no part; a line cut short keeps its marks, the last "false".
    const odd = { timeNs: 3n, record: { MESSAGE: 'x', CONTAINER_PARTIAL_ID: 'j2', CONTAINER_PARTIAL_LAST: 'false' } }
    expect(p.take('systemd', [odd])).toEqual([{ tag: 'systemd', events: [odd] }])
    p.take('systemd', [entry(4, 'ccc', 'j3', 1, false)])
    advance(1000)
    expect(p.expired()[0]!.events[0]!.record).toEqual({ MESSAGE: 'ccc', CONTAINER_NAME: 'web', PRIORITY: '6', CONTAINER_PARTIAL_ID: 'j3', CONTAINER_PARTIAL_LAST: 'false', CONTAINER_PARTIAL_MESSAGE: 'true' })
  })

  it('cuts a line whose last part has not come in time, marked, and the parts after it are a line of their own', () => {
    const { p, outcomes, advance } = lines()
    p.take('t', [ev(1, 'aaa', { id: 'x', ordinal: 1, last: false })])
    advance(500)
    p.take('t', [ev(2, 'zzz', { id: 'z', ordinal: 1, last: false })])
    expect(p.nextExpiry()).toBe(500)
    advance(499)
    expect(p.expired()).toEqual([])
    advance(1)
    const cut = p.expired()
    expect(cut).toEqual([{ tag: 't', events: [{ timeNs: 1n, record: { container_id: 'c1', container_name: '/web', source: 'stdout', log: 'aaa', partial_message: 'true', partial_id: 'x', partial_last: 'false' } }] }])
    expect(p.nextExpiry()).toBe(500)
    expect(logs(p.take('t', [ev(3, 'bbb', { id: 'x', ordinal: 2, last: true })]))).toEqual(['bbb'])
    expect(logs(p.expired(true))).toEqual(['zzz'])
    expect(p.nextExpiry()).toBeUndefined()
    expect(outcomes).toEqual([false, true, false])
  })

  it('delivers a line once it is maxLineChars long, and the oldest lines past maxLines or maxHeldChars', () => {
    const long = lines({ maxLineChars: 10 })
    expect(logs(long.p.take('t', [ev(1, 'x'.repeat(6), { id: 'a', ordinal: 1, last: false })]))).toEqual([])
    const [ready] = long.p.take('t', [ev(2, 'y'.repeat(6), { id: 'a', ordinal: 2, last: false })])
    expect(ready!.events.map((e) => [e.record.log, e.record.partial_last])).toEqual([['xxxxxxyyyyyy', 'false']])
    expect(long.p.size).toBe(0)

    const many = lines({ maxLines: 2 })
    many.p.take('t1', [ev(1, 'a', { id: 'a', ordinal: 1, last: false })])
    many.p.take('t2', [ev(1, 'b', { id: 'b', ordinal: 1, last: false })])
    // A third line pushes out the oldest, under its own tag, before the message's own events.
    expect(many.p.take('t3', [ev(2, 'c', { id: 'c', ordinal: 1, last: false }), ev(2, 'whole')])).toEqual([
      { tag: 't1', events: [expect.objectContaining({ record: expect.objectContaining({ log: 'a', partial_last: 'false' }) })] },
      { tag: 't3', events: [ev(2, 'whole')] },
    ])
    expect(many.p.size).toBe(2)

    const held = lines({ maxHeldChars: 10 })
    held.p.take('t', [ev(1, 'a'.repeat(6), { id: 'a', ordinal: 1, last: false })])
    expect(logs(held.p.take('t', [ev(1, 'b'.repeat(6), { id: 'b', ordinal: 1, last: false })]))).toEqual(['aaaaaa'])
    // A single part over the bound goes out at once.
    expect(logs(held.p.take('t', [ev(1, 'c'.repeat(20), { id: 'c', ordinal: 1, last: false })]))).toEqual(['bbbbbb', 'c'.repeat(20)])
    expect(held.p.size).toBe(0)
  })
})
