import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Heartbeats } from './heartbeat.js'

/** A socket that records its pings (at the fake clock's time) and whether it was terminated. */
function socket(name: string) {
  const s = {
    name,
    pings: [] as number[],
    terminated: false,
    ping() {
      s.pings.push(Date.now())
    },
    terminate() {
      s.terminated = true
    },
  }
  return s
}
type Socket = ReturnType<typeof socket>

describe('Heartbeats', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'], now: 0 }))
  afterEach(() => vi.useRealTimers())

  it('spreads sockets that joined together over the interval, each pinged once per interval', () => {
    const beats = new Heartbeats<Socket>({ intervalMs: 32_000, slots: 32 })
    const sockets = Array.from({ length: 320 }, (_, i) => socket(`s${i}`))
    for (const s of sockets) beats.add(s)
    const pingsPerTurn: number[] = []
    for (let turn = 0; turn < 32; turn++) {
      const before = sockets.reduce((n, s) => n + s.pings.length, 0)
      vi.advanceTimersByTime(1000)
      for (const s of sockets) beats.answered(s)
      pingsPerTurn.push(sockets.reduce((n, s) => n + s.pings.length, 0) - before)
    }
    // A timer per socket would ping all 320 in one turn; here each turn pings its tenth.
    expect(pingsPerTurn).toEqual(Array.from({ length: 32 }, () => 10))
    expect(sockets.every((s) => s.pings.length === 1)).toBe(true)
    vi.advanceTimersByTime(32_000)
    expect(sockets.every((s) => s.pings.length === 2 && s.pings[1]! - s.pings[0]! === 32_000)).toBe(true)
    beats.close()
  })

  it('terminates a socket that did not answer for a whole interval, and only that one', () => {
    const beats = new Heartbeats<Socket>({ intervalMs: 4000, slots: 4 })
    const [quiet, talker] = [socket('quiet'), socket('talker')]
    beats.add(quiet)
    beats.add(talker)
    const answerFor = (ms: number) => {
      for (let t = 0; t < ms; t += 500) {
        vi.advanceTimersByTime(500)
        beats.answered(talker)
      }
    }
    answerFor(4000)
    expect(quiet.pings).toHaveLength(1)
    expect(quiet.terminated).toBe(false)
    answerFor(4000)
    expect(quiet.terminated).toBe(true)
    expect(quiet.pings).toHaveLength(1)
    expect(talker.terminated).toBe(false)
    expect(talker.pings).toHaveLength(2)
    expect(beats.size).toBe(1)
    answerFor(8000)
    expect(quiet.pings).toHaveLength(1)
    beats.close()
  })

  it('never pings a removed socket, and fills the emptiest turn with a newcomer', () => {
    const beats = new Heartbeats<Socket>({ intervalMs: 2000, slots: 2 })
    const [a, b, c] = [socket('a'), socket('b'), socket('c')]
    beats.add(a)
    beats.add(b)
    beats.remove(a)
    // a's turn is empty now: c takes it, so the two turns ping one socket each.
    beats.add(c)
    vi.advanceTimersByTime(1000)
    expect([a.pings.length, b.pings.length + c.pings.length]).toEqual([0, 1])
    beats.answered(b)
    beats.answered(c)
    vi.advanceTimersByTime(1000)
    expect([a.pings.length, b.pings.length, c.pings.length]).toEqual([0, 1, 1])
    beats.close()
  })

  it('goes on with the other sockets when one cannot be pinged', () => {
    const beats = new Heartbeats<Socket>({ intervalMs: 1000, slots: 1 })
    const closing = socket('closing')
    closing.ping = () => {
      throw new Error('WebSocket is not open: readyState 0 (CONNECTING)')
    }
    const open = socket('open')
    beats.add(closing)
    beats.add(open)
    vi.advanceTimersByTime(1000)
    expect(open.pings).toHaveLength(1)
    beats.close()
    vi.advanceTimersByTime(5000)
    expect(open.pings).toHaveLength(1)
  })
})
