import { describe, expect, it } from 'vitest'
import { BlockBuffers } from './block-buffers.js'

describe('BlockBuffers', () => {
  it('hands out buffers of the size asked, cut from power-of-two memory', () => {
    const pool = new BlockBuffers()
    for (const size of [0, 1, 65_536, 65_537, 700_000]) {
      const b = pool.take(size)
      expect(b.length).toBe(size)
      expect(b.byteOffset).toBe(0)
      expect(b.buffer.byteLength).toBe(size <= 65_536 ? 65_536 : 2 ** Math.ceil(Math.log2(size)))
    }
  })

  it('reuses a buffer given back, for any size of its capacity, and never one still out', () => {
    const pool = new BlockBuffers()
    const first = pool.take(600_000)
    const second = pool.take(600_000)
    expect(second.buffer === first.buffer).toBe(false)
    pool.give([first])
    expect(pool.spareBytes).toBe(1 << 20)
    const again = pool.take(900_000)
    expect(again.buffer === first.buffer).toBe(true)
    expect(pool.spareBytes).toBe(0)
    // A smaller capacity is not served from a larger spare, nor the other way round.
    pool.give([again])
    expect(pool.take(100_000).buffer === first.buffer).toBe(false)
    expect(pool.take(2_000_000).buffer === first.buffer).toBe(false)
  })

  it('keeps only its own kind of buffer, once, up to its limit', () => {
    const pool = new BlockBuffers(3 << 20)
    const own = pool.take(70_000)
    // Not from take: Node's shared pool, a view into the middle, odd-sized memory.
    pool.give([Buffer.from('abc'), own.subarray(1), Buffer.allocUnsafeSlow(100_000), Buffer.allocUnsafe(5000)])
    expect(pool.spareBytes).toBe(0)
    pool.give([own, own])
    expect(pool.spareBytes).toBe(128 << 10)
    pool.give([pool.take(1_500_000), pool.take(1_500_000)])
    // The second 2 MiB buffer would pass the 3 MiB limit.
    expect(pool.spareBytes).toBe((128 << 10) + (2 << 20))
  })
})
