// Raw fuzzing of GELF (fast-check, fixed seeds): datagrams — plain, gzip, zlib, chunked, mutated,
// random — put together and inflated as the UDP listener does, and every message read as a record.
// Nothing throws; the chunks held stay within their bounds and are all let go by the end; a
// message is handed on only whole (its chunks in order) and inflates to at most its limit; reading
// a message gives a record or a reason, never an exception, whatever its JSON.
import { deflateSync, gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { GelfChunks } from './gelf-chunks.js'
import { gelfRecord, inflatePayload } from './gelf-message.js'

const SEED = 12201
const MAX_RECORD = 2048
const D = { tenant: 't', source: 'gelf' as const, observedNs: 1_764_504_000_000_000_000n }

const MESSAGES = [
  { version: '1.1', host: 'h', short_message: 'one', level: 3, timestamp: 1764504000.25, _service: 'web' },
  { short_message: 'two', full_message: 'x\ny', _a: { b: [1, 2] }, _n: 2 ** 60, facility: null },
  { host: 7, short_message: 'three', level: 'warning', timestamp: '1764504001.5', _message: 'm', extra: true },
].map((m) => Buffer.from(JSON.stringify(m)))

const coded = fc.tuple(fc.constantFrom(...MESSAGES), fc.constantFrom('none', 'gzip', 'zlib')).map(([m, c]) => (c === 'gzip' ? gzipSync(m) : c === 'zlib' ? deflateSync(m) : m))

/** A payload as chunks with a random id, size and order, some dropped or repeated. */
const chunks = fc
  .tuple(coded, fc.integer({ min: 1, max: 40 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean())
  .map(([payload, size, id, shuffle, lose]) => {
    const parts: Buffer[] = []
    for (let at = 0; at < payload.length; at += size) parts.push(payload.subarray(at, at + size))
    const count = Math.min(parts.length, 128)
    let out = parts.slice(0, count).map((p, i) => Buffer.concat([Buffer.from([0x1e, 0x0f]), id, Buffer.from([i, count]), p]))
    for (const s of shuffle) out.push(out[s % out.length]!)
    out = out.sort((a, b) => (a[10]! * 7 + a.length) % 5 - (b[10]! * 7 + b.length) % 5)
    return lose ? out.slice(1) : out
  })

/** Bytes with a few flipped, or cut short. */
const mutated = fc.tuple(fc.oneof(coded, chunks.map((c) => c[0] ?? Buffer.alloc(0))), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat())
  .map(([b, flips, cut]) => {
    const m = Buffer.from(b)
    for (const [at, v] of flips) if (m.length > 0) m[at % m.length] = v
    return m.subarray(0, m.length === 0 ? 0 : 1 + (cut % m.length))
  })

const datagrams = fc.array(fc.oneof(chunks, coded.map((b) => [b]), mutated.map((b) => [b]), fc.uint8Array({ maxLength: 40 }).map((u) => [Buffer.from(u)])), { maxLength: 6 }).map((groups) => groups.flat())

describe('GELF fuzzing', () => {
  it('puts together, inflates and reads any datagrams without throwing, within bounds, letting every chunk go', () => {
    fc.assert(
      fc.property(datagrams, (list) => {
        let now = 0
        const c = new GelfChunks({ waitMs: 1000, maxHeldBytes: 600, maxMessages: 3 }, () => now)
        for (const d of list) {
          now += 10
          const r = c.take(d, 'udp 1', () => {})
          expect(c.size).toBeLessThanOrEqual(3)
          if (!('whole' in r)) continue
          const inflated = inflatePayload(r.whole, MAX_RECORD)
          if (!inflated.ok) continue
          expect(inflated.bytes.length).toBeLessThanOrEqual(MAX_RECORD)
          const rec = gelfRecord(inflated.bytes.toString('utf8'), 'id', D)
          if (rec.ok) expect(rec.doc.event ?? rec.doc.record).toBeTruthy()
          else expect(rec.reason).toMatch(/\S/)
        }
        c.expired(true)
        expect(c.size).toBe(0)
      }),
      { seed: SEED, numRuns: 400 },
    )
  })

  it('hands on a chunked message whole, in order, whatever order its chunks came in', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MESSAGES), fc.integer({ min: 2, max: 30 }), fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), (payload, size, order) => {
        const parts: Buffer[] = []
        for (let at = 0; at < payload.length; at += size) parts.push(payload.subarray(at, at + size))
        const count = parts.length
        const dgrams = parts.map((p, i) => Buffer.concat([Buffer.from([0x1e, 0x0f, 1, 2, 3, 4, 5, 6, 7, 8, i, count]), p]))
        // Every chunk once, in an order drawn from `order`.
        const seq = [...dgrams.keys()].sort((a, b) => (order[a % order.length]! - order[b % order.length]!) || a - b)
        const c = new GelfChunks({ waitMs: 1000, maxHeldBytes: 100_000, maxMessages: 10 })
        const wholes = seq.map((i) => c.take(dgrams[i]!, 'u', () => {})).filter((r) => 'whole' in r)
        expect(wholes).toEqual([{ whole: payload }])
      }),
      { seed: SEED, numRuns: 200 },
    )
  })
})
