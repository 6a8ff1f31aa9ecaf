import { describe, expect, it } from 'vitest'
import { exportChunks } from './logs.js'

type Row = { ts: string; id: string }

/** The rows as ClickHouse answers a chunk's statement: at or after `from`, below `after`, newest first. */
function table(rows: Row[]) {
  const sorted = [...rows].sort((a, b) => (BigInt(a.ts) === BigInt(b.ts) ? (a.id < b.id ? 1 : -1) : BigInt(a.ts) < BigInt(b.ts) ? 1 : -1))
  const reads: bigint[] = []
  const below = (r: Row, after: { tsNs: string; id: string }) => BigInt(r.ts) < BigInt(after.tsNs) || (BigInt(r.ts) === BigInt(after.tsNs) && r.id < after.id)
  return {
    sorted,
    reads,
    read: async (from: bigint, after: { tsNs: string; id: string }, want: number) => {
      reads.push(from)
      return sorted.filter((r) => BigInt(r.ts) >= from && below(r, after)).slice(0, want)
    },
  }
}

async function drain(t: ReturnType<typeof table>, chunk: number, limit: number, floor = 0n): Promise<string[]> {
  const first = t.sorted.slice(0, Math.min(chunk, limit))
  const chunks = exportChunks(first, { chunk, limit, floor }, t.read)
  const out = first.map((r) => r.id)
  for (let rows = await chunks.next(); rows.length > 0; rows = await chunks.next()) {
    expect(rows.length).toBeLessThanOrEqual(chunk)
    out.push(...rows.map((r) => r.id))
  }
  return out
}

const at = (ts: number, id: string): Row => ({ ts: String(ts), id })

describe('exportChunks', () => {
  it('reads each row once, newest first, a row on a window edge included', async () => {
    // First chunk 1000..980: span 20, so the next window starts at 980 - 41 = 939, where a row is.
    const t = table([at(1000, 'a'), at(990, 'b'), at(980, 'c'), at(970, 'd'), at(939, 'e'), at(938, 'f'), at(500, 'g'), at(3, 'h')])
    expect(await drain(t, 3, 100)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'])
    expect(t.reads[0]).toBe(939n)
  })

  it('pages through more rows of one instant than a chunk holds', async () => {
    const t = table([...Array.from({ length: 7 }, (_, i) => at(50, `x${i}`)), at(40, 'y')])
    expect(await drain(t, 3, 100)).toEqual(['x6', 'x5', 'x4', 'x3', 'x2', 'x1', 'x0', 'y'])
  })

  it('stops at the limit and at the floor, and widens over empty time', async () => {
    const rows = [at(1_000_000, 'a'), at(999_999, 'b'), at(999_998, 'c'), at(10, 'old')]
    expect(await drain(table(rows), 2, 3)).toEqual(['a', 'b', 'c'])
    expect(await drain(table(rows), 2, 100, 100n)).toEqual(['a', 'b', 'c'])
    const t = table(rows)
    expect(await drain(t, 2, 100)).toEqual(['a', 'b', 'c', 'old'])
    // A window of 3 ns at first, four times wider after each empty one: a handful of reads, not 10⁶.
    expect(t.reads.length).toBeLessThan(15)
  })
})
