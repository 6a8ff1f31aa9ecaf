import { describe, expect, it } from 'vitest'
import { FIRST_SLICE_NS, searchNewestFirst } from './guard.js'

const MIN = 60n * 1_000_000_000n

/**
 * A fake line search over lines at the given minutes: `refused` lists the spans (in minutes) the
 * primary key leaves too many rows in, when read without the dictionary scan. Every read is noted.
 */
function search(minutes: number[], refusedOver: number) {
  const reads: string[] = []
  const read = async (fromNs: bigint, toNs: bigint, limit: number, scan: boolean) => {
    const from = Number(fromNs / MIN)
    const to = Number(toNs / MIN)
    reads.push(`${from}-${to}${scan ? ' scan' : ''} ${limit}`)
    if (!scan && to - from > refusedOver) return undefined
    return minutes.filter((m) => m >= from && m < to)
  }
  return { reads, read }
}

describe('searchNewestFirst', () => {
  it('reads a range the key leaves few rows in at once, without the scan', async () => {
    const s = search([1, 2, 3], 60)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 60n * MIN, limit: 2, backward: true }, async (f, t, l, scan) => (await s.read(f, t, l, scan))?.reverse().slice(0, l))).toEqual([3, 2])
    expect(s.reads).toEqual(['0-60 2'])
  })

  it('answers from the newest slice when it fills the page', async () => {
    const minutes = Array.from({ length: 1440 }, (_, i) => i)
    const s = search(minutes, 30)
    const newest = async (f: bigint, t: bigint, l: number, scan: boolean) => (await s.read(f, t, l, scan))?.reverse().slice(0, l)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 1440n * MIN, limit: 3, backward: true }, newest)).toEqual([1439, 1438, 1437])
    expect(s.reads).toEqual(['0-1440 3', `${1440n - FIRST_SLICE_NS / MIN}-1440 3`])
  })

  it('reads the rest with the scan for what the slice lacks, newest first or oldest first', async () => {
    const s = search([5, 700, 1430], 30)
    const newest = async (f: bigint, t: bigint, l: number, scan: boolean) => (await s.read(f, t, l, scan))?.reverse().slice(0, l)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 1440n * MIN, limit: 10, backward: true }, newest)).toEqual([1430, 700, 5])
    expect(s.reads).toEqual(['0-1440 10', '1425-1440 10', '0-1425 scan 9'])
    s.reads.length = 0
    const oldest = async (f: bigint, t: bigint, l: number, scan: boolean) => (await s.read(f, t, l, scan))?.slice(0, l)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 1440n * MIN, limit: 2, backward: false }, oldest)).toEqual([5, 700])
    expect(s.reads).toEqual(['0-1440 2', '0-15 2', '15-1440 scan 1'])
  })

  it('reads the whole range with the scan where even the slice holds too many rows, or the range is no longer than it', async () => {
    const s = search([5, 700, 1430], 10)
    const newest = async (f: bigint, t: bigint, l: number, scan: boolean) => (await s.read(f, t, l, scan))?.reverse().slice(0, l)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 1440n * MIN, limit: 10, backward: true }, newest)).toEqual([1430, 700, 5])
    expect(s.reads).toEqual(['0-1440 10', '1425-1440 10', '0-1440 scan 10'])
    s.reads.length = 0
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 12n * MIN, limit: 10, backward: true }, newest)).toEqual([5])
    expect(s.reads).toEqual(['0-12 10', '0-12 scan 10'])
  })
})
