import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { WriteScheduler } from './writes.js'

/** Clients that log their writes; each write takes one millisecond of the fake clock. */
function setup(opts: { coalesceMs?: number; sliceMs?: number } = {}) {
  let clock = 0
  const written: string[] = []
  const scheduler = new WriteScheduler<{ pump(): void; name: string }>({ coalesceMs: opts.coalesceMs ?? 10, sliceMs: opts.sliceMs ?? 2, now: () => clock })
  const client = (name: string) => ({
    name,
    pump() {
      written.push(name)
      clock += 1
    },
  })
  return { scheduler, written, client }
}

describe('WriteScheduler', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate'] }))
  afterEach(() => vi.useRealTimers())

  it('writes each waiting client once, the coalescing delay after the first frame', () => {
    const { scheduler, written, client } = setup({ sliceMs: 100 })
    const [a, b] = [client('a'), client('b')]
    scheduler.add(a)
    vi.advanceTimersByTime(5)
    scheduler.add(b)
    scheduler.add(a)
    vi.advanceTimersByTime(4)
    expect(written).toEqual([])
    vi.advanceTimersByTime(1)
    expect(written).toEqual(['a', 'b'])
    vi.advanceTimersByTime(100)
    expect(written).toEqual(['a', 'b'])
  })

  it('yields to the event loop between slices; a client given frames meanwhile joins the round unless already written', () => {
    const { scheduler, written, client } = setup({ sliceMs: 2 })
    const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map(client) as [ReturnType<typeof client>, ReturnType<typeof client>, ReturnType<typeof client>, ReturnType<typeof client>, ReturnType<typeof client>]
    for (const x of [a, b, c]) scheduler.add(x)
    vi.advanceTimersByTime(10)
    // Two writes fill the 2 ms slice; c waits for the next turn of the event loop.
    expect(written).toEqual(['a', 'b'])
    // Between slices (a fetch decoded): a was written in this round, d and e were not.
    scheduler.add(a)
    scheduler.add(d)
    scheduler.add(e)
    vi.runOnlyPendingTimers()
    expect(written).toEqual(['a', 'b', 'c', 'd'])
    vi.runOnlyPendingTimers()
    expect(written).toEqual(['a', 'b', 'c', 'd', 'e'])
    // a's new frames go in the next round, the coalescing delay after this one ended.
    vi.advanceTimersByTime(9)
    expect(written).toEqual(['a', 'b', 'c', 'd', 'e'])
    vi.advanceTimersByTime(1)
    expect(written).toEqual(['a', 'b', 'c', 'd', 'e', 'a'])
  })

  it('writes nothing once closed', () => {
    const { scheduler, written, client } = setup({ sliceMs: 1 })
    for (const n of ['a', 'b', 'c']) scheduler.add(client(n))
    vi.advanceTimersByTime(10)
    expect(written).toEqual(['a'])
    scheduler.close()
    scheduler.add(client('d'))
    vi.advanceTimersByTime(100)
    expect(written).toEqual(['a'])
  })
})
