// Routing of a transform over several parts: keys pinned to one part (order kept), new keys to the
// one holding the fewest, outputs back in the chunk's order with failures by record index. The parts
// here echo what they get (real threads are covered by the enricher's transform.int.test.ts).
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { SluiceError } from '@sluice/core'
import { TransformThreads } from './pool.js'
import { pack, unpack } from './packed.js'
import type { Packed } from './packed.js'
import type { RecordTransform, ThreadResult } from './protocol.js'

/** A part that echoes each value (failing those starting with "bad") and remembers what it saw. */
function echo(): RecordTransform & { seen: string[] } {
  const seen: string[] = []
  return {
    seen,
    async run(chunk: Packed): Promise<ThreadResult> {
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

const message = (key: string, value: string, offset: number): KafkaMessage => ({ key: Buffer.from(key), value: Buffer.from(value), offset: String(offset), timestamp: '0', attributes: 0, headers: {} })

describe('transform threads', () => {
  it('pins each key to one part, spreads new keys evenly, and returns outputs in order with failures by index', async () => {
    const parts = [echo(), echo()]
    const threads = new TransformThreads(parts)
    const keys = Array.from({ length: 50 }, (_, i) => `default/service-${i}`)
    const records = Array.from({ length: 1000 }, (_, i) => {
      const key = keys[i % keys.length]!
      return message(key, i === 500 ? `bad:${i}` : `${key}:${i}`, i)
    })
    const out = await threads.transform({ topic: 't', partition: 0, records, values: records.map((r) => r.value) })

    expect(out.outputs.map((o) => o.value.toString())).toEqual(records.filter((_, i) => i !== 500).map((r) => r.value!.toString()))
    expect(out.outputs[0]!.key).toBe(keys[0])
    expect(out.failed?.map((f) => f.index)).toEqual([500])
    expect(out.failed?.[0]?.error).toBeInstanceOf(SluiceError)
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
    const later = message(keys[7]!, `${keys[7]}:1000`, 1000)
    await threads.transform({ topic: 't', partition: 0, records: [later], values: [later.value] })
    const owner = parts.find((p) => p.seen.includes(`${keys[7]}:7`))!
    expect(owner.seen.at(-1)).toBe(`${keys[7]}:1000`)
  })

  it('balances keys first seen partition by partition, as when an instance starts', async () => {
    const parts = [echo(), echo()]
    const threads = new TransformThreads(parts)
    const keys = Array.from({ length: 50 }, (_, i) => `default/service-${i}`)
    const chunk = (partition: number, ofKeys: string[], n: number) => {
      const records = Array.from({ length: n }, (_, i) => message(ofKeys[i % ofKeys.length]!, `${ofKeys[i % ofKeys.length]}:${i}`, i))
      return threads.transform({ topic: 't', partition, records, values: records.map((r) => r.value) })
    }
    // Each key lives in one partition; the first fetch holds a larger backlog of one of them.
    await chunk(0, keys.slice(0, 25), 2000)
    await chunk(1, keys.slice(25), 500)
    for (const p of parts) p.seen.length = 0
    // Then every service logs as much as the others: each part gets half of the records.
    await chunk(0, keys, 1000)
    expect(parts.map((p) => p.seen.length)).toEqual([500, 500])
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
