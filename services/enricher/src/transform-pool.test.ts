// Routing of the transform pool: keys pinned to one transform (order kept), new keys to the least
// loaded one, outcomes back in the chunk's order. The parts here echo what they get (the real
// threads are covered in transform.int.test.ts).
import { describe, expect, it } from 'vitest'
import { SluiceError } from '@sluice/core'
import { TransformPool } from './transform-pool.js'
import { pack, unpack } from './transform.js'
import type { Packed, Transform, TransformResult } from './transform.js'

/** A part that echoes each value (failing those starting with "bad") and remembers what it saw. */
function echo(): Transform & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    async run(chunk: Packed): Promise<TransformResult> {
      const values = unpack(chunk).map((b) => b.toString())
      seen.push(...values)
      const out = pack(values.map((v) => (v.startsWith('bad') ? null : Buffer.from(v))))
      return { ...out, keys: values.map((v) => v.split(':')[0]!), failures: values.flatMap((v, index) => (v.startsWith('bad') ? [{ index, code: 'DECODE_FAILED' as const, message: `bad value ${v}`, canRetry: false }] : [])) }
    },
    restore: async () => 0,
    snapshot: async () => undefined,
    close: async () => {},
  }
}

describe('transform pool', () => {
  it('pins each key to one part, spreads new keys evenly, and returns outcomes in order', async () => {
    const parts = [echo(), echo()]
    const pool = new TransformPool(parts)
    const keys = Array.from({ length: 50 }, (_, i) => `default/service-${i}`)
    const records = Array.from({ length: 1000 }, (_, i) => {
      const key = keys[i % keys.length]!
      const value = i === 500 ? `bad:${i}` : `${key}:${i}`
      return { key: Buffer.from(key), value: Buffer.from(value) }
    })
    const out = await pool.run(records)

    expect(out.map((o) => ('item' in o ? o.item.value.toString() : 'failed'))).toEqual(records.map((r, i) => (i === 500 ? 'failed' : r.value.toString())))
    expect(out[500] && 'error' in out[500] && out[500].error).toBeInstanceOf(SluiceError)
    const keysOf = (p: ReturnType<typeof echo>) => new Set(p.seen.map((v) => v.slice(0, v.lastIndexOf(':'))).filter((k) => k !== 'bad'))
    const [a, b] = [keysOf(parts[0]!), keysOf(parts[1]!)]
    expect(a.size).toBe(25)
    expect(b.size).toBe(25)
    expect([...a].some((k) => b.has(k))).toBe(false)
    // Within a part, a key's records arrive in the order they were read.
    for (const p of parts) {
      const seqs = p.seen.filter((v) => v.startsWith('default/service-7:')).map((v) => Number(v.split(':')[1]))
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y))
    }
    // A later chunk keeps the pins.
    await pool.run([{ key: Buffer.from(keys[7]!), value: Buffer.from(`${keys[7]}:1000`) }])
    const owner = parts.find((p) => p.seen.includes(`${keys[7]}:7`))!
    expect(owner.seen.at(-1)).toBe(`${keys[7]}:1000`)
  })

  it('packs values lying in order in one buffer as one span, anything else value by value', () => {
    // As in a fetch response: each value after a few bytes of record framing.
    const words = ['first-value', 'second-value', 'third-value']
    const response = Buffer.from(`..${words.join('..')}.`)
    const views = words.map((w) => response.subarray(response.indexOf(w), response.indexOf(w) + w.length))
    const spanned = pack(views)
    expect(spanned.starts).toBeDefined()
    expect(spanned.bytes.length).toBe(38)
    expect(unpack(spanned).map(String)).toEqual(words)

    // Out of order, from two buffers, a null, or mostly gaps: copied one by one, back to back.
    const other = Buffer.from('delta')
    for (const values of [[views[1]!, views[0]!], [views[0]!, other], [views[0]!, null], [response.subarray(0, 1), response.subarray(21, 22)]]) {
      const packed = pack(values)
      expect(packed.starts).toBeUndefined()
      expect(unpack(packed).map(String)).toEqual(values.map((v) => (v ? String(v) : '')))
    }
  })
})
