import { describe, expect, it } from 'vitest'
import { FIRST_SLICE_NS, limitMessage, searchNewestFirst } from './guard.js'

const MIN = 60n * 1_000_000_000n
const minutes = (ns: bigint) => (Number(ns) / 60e9).toFixed(2).replace(/\.00$/, '')

/**
 * A fake line search over lines at the given minutes. Read without the scan, a slice longer than
 * `refusedOver` minutes is refused (the primary key leaves too many rows in it). Every read is noted.
 */
function search(lines: number[], refusedOver: number, backward = true) {
  const reads: string[] = []
  const read = async (fromNs: bigint, toNs: bigint, limit: number, scan: boolean) => {
    reads.push(`${minutes(fromNs)}-${minutes(toNs)}${scan ? ' scan' : ''} ${limit}`)
    if (!scan && toNs - fromNs > BigInt(refusedOver) * MIN) return undefined
    const found = lines.filter((m) => BigInt(m) * MIN >= fromNs && BigInt(m) * MIN < toNs)
    return (backward ? found.reverse() : found).slice(0, limit)
  }
  return { reads, read }
}
const DAY = { fromNs: 0n, toNs: 1440n * MIN }

describe('searchNewestFirst', () => {
  it('reads a range the key leaves few rows in at once, without the scan', async () => {
    const s = search([1, 2, 3], 60)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 60n * MIN, limit: 2, backward: true }, s.read)).toEqual([3, 2])
    expect(s.reads).toEqual(['0-60 2'])
  })

  it('answers from the newest slice when it fills the page', async () => {
    const s = search(Array.from({ length: 1440 }, (_, i) => i), 30)
    expect(await searchNewestFirst({ ...DAY, limit: 3, backward: true }, s.read)).toEqual([1439, 1438, 1437])
    expect(s.reads).toEqual(['0-1440 3', `${minutes(DAY.toNs - FIRST_SLICE_NS)}-1440 3`])
  })

  it('reads a next slice as long as the lines found so far say the rest of the page needs, and a quarter more', async () => {
    // A line a minute: the first slice finds 15 of 40; 25 more need 25 minutes, a quarter more 31.25.
    const s = search(Array.from({ length: 1440 }, (_, i) => i), 60)
    const found = await searchNewestFirst({ ...DAY, limit: 40, backward: true }, s.read)
    expect(found).toEqual(Array.from({ length: 40 }, (_, i) => 1439 - i))
    expect(s.reads).toEqual(['0-1440 40', '1425-1440 40', '1393.75-1425 25'])
  })

  it('reads the rest with the scan for what the slices lack, newest first or oldest first', async () => {
    const s = search([5, 700, 1430], 300)
    expect(await searchNewestFirst({ ...DAY, limit: 10, backward: true }, s.read)).toEqual([1430, 700, 5])
    // One line in a quarter of an hour: nine more need 168.75 minutes; none there, and then the
    // span they need is more than half of what is left.
    expect(s.reads).toEqual(['0-1440 10', '1425-1440 10', '1256.25-1425 9', '0-1256.25 scan 9'])
    const f = search([5, 700, 1430], 300, false)
    expect(await searchNewestFirst({ ...DAY, limit: 2, backward: false }, f.read)).toEqual([5, 700])
    expect(f.reads).toEqual(['0-1440 2', '0-15 2', '15-33.75 1', '33.75-75.94 1', '75.94-1440 scan 1'])
  })

  it('reads the rest with the scan at once where a slice finds nothing, or the key leaves too many rows in it', async () => {
    const none = search([5, 700], 300)
    expect(await searchNewestFirst({ ...DAY, limit: 10, backward: true }, none.read)).toEqual([700, 5])
    expect(none.reads).toEqual(['0-1440 10', '1425-1440 10', '0-1425 scan 10'])
    const dense = search([5, 700, 1430], 10)
    expect(await searchNewestFirst({ ...DAY, limit: 10, backward: true }, dense.read)).toEqual([1430, 700, 5])
    expect(dense.reads).toEqual(['0-1440 10', '1425-1440 10', '0-1440 scan 10'])
  })

  it('reads no slice of a range no longer than two of them', async () => {
    const s = search([5], 10)
    expect(await searchNewestFirst({ fromNs: 0n, toNs: 29n * MIN, limit: 10, backward: true }, s.read)).toEqual([5])
    expect(s.reads).toEqual(['0-29 10', '0-29 scan 10'])
  })
})

describe('limitMessage', () => {
  const opts = { timeoutMs: 30_000, maxRowsRead: 0, maxBytesRead: 0 }
  it("words a regex ClickHouse's RE2 refuses without its SQL advice and column dump", () => {
    // ClickHouse's own text (chdb 26), as the client's error carries it.
    const message =
      "OptimizedRegularExpression: cannot compile re2: a{2,1}, error: invalid repetition size: {2,1}. Look at https://github.com/google/re2/wiki/Syntax for reference. Please note that if you specify regex as an SQL string literal, the slashes have to be additionally escaped. For example, to match an opening brace, write '\\(' -- the first slash is for SQL and the second one is for regex: while executing function match on arguments __table1.Body String String(size = 0). (CANNOT_COMPILE_REGEXP)"
    expect(limitMessage(new Error(message), opts)).toBe('invalid regular expression "a{2,1}": invalid repetition size: {2,1}')
    expect(limitMessage(new Error('something else (CANNOT_COMPILE_REGEXP)'), opts)).toBe('invalid regular expression')
  })
})
