// Raw fuzzing of the Beats protocol reader (fast-check, fixed seed): windows plain and compressed,
// mutated (bytes flipped, cut short) and random bytes, in random chunkings. The reader never
// throws, hands on only whole windows within its bounds, and reads a stream the same however the
// network cut it; every event it hands on is read as a record or refused, never an exception.
import { deflateSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BeatsReader } from './beats-framing.js'
import { beatsRecord } from './beats.js'

const SEED = 5044
const D = { tenant: 't', source: 'beats' as const, observedNs: 1_764_504_000_000_000_000n }
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const EVENTS = [{ '@timestamp': '2026-12-07T10:00:00Z', message: 'one', host: { name: 'h' } }, { message: 'two', log: { level: 'warn' }, '@metadata': { beat: 'filebeat' } }, 'not json', [1]]
const windowOf = (events: unknown[], compress: boolean) => {
  const frames = Buffer.concat(events.map((e, i) => {
    const json = Buffer.from(typeof e === 'string' ? e : JSON.stringify(e))
    return Buffer.concat([Buffer.from('2J'), u32(i + 1), u32(json.length), json])
  }))
  const body = compress ? (() => { const z = deflateSync(frames); return Buffer.concat([Buffer.from('2C'), u32(z.length), z]) })() : frames
  return Buffer.concat([Buffer.from('2W'), u32(events.length), body])
}
const windows = fc.tuple(fc.subarray(EVENTS, { minLength: 1 }), fc.boolean()).map(([e, c]) => windowOf(e, c))
const mutated = fc.tuple(windows, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([b, flips, cut]) => {
  const m = Buffer.from(b)
  for (const [at, v] of flips) m[at % m.length] = v
  return m.subarray(0, 1 + (cut % m.length))
})
const stream = fc.array(fc.oneof(windows, windows, mutated, fc.uint8Array({ maxLength: 30 }).map((u) => Buffer.from(u))), { maxLength: 5 }).map((parts) => Buffer.concat(parts))

function read(bytes: Buffer, cuts: number[]) {
  const r = new BeatsReader({ maxEventBytes: 512, maxFrameBytes: 2048 })
  const out: string[] = []
  let at = 0
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    r.push(bytes.subarray(at, cut), (w) => void out.push(JSON.stringify(w.events), String(w.seq)))
    at = cut
  }
  r.push(bytes.subarray(at), (w) => {
    expect(w.events.length).toBeGreaterThan(0)
    out.push(JSON.stringify(w.events), String(w.seq))
  })
  return { out, problem: r.problem }
}

describe('Beats fuzzing', () => {
  it('reads any stream without throwing, the same however it is cut, and every event as a record or a refusal', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const whole = read(bytes, [])
        const cut = read(bytes, cuts)
        expect(cut).toEqual(whole)
        for (let i = 0; i < whole.out.length; i += 2) {
          for (const text of JSON.parse(whole.out[i]!) as string[]) {
            const r = beatsRecord(text, 'id', D)
            if (!r.ok) expect(r.reason).toMatch(/\S/)
          }
        }
      }),
      { seed: SEED, numRuns: 400 },
    )
  })
})
