// Raw fuzzing of the Fluentd forward protocol (fast-check, fixed seeds): the framer fed random and
// mutated streams in random chunk sizes, and every message it hands on read and mapped as the
// listener does. The framer never throws, never hands on a message over its limit, and cuts a
// stream the same however the network cut it into chunks; reading and mapping a message never
// throws, whatever its bytes (64-bit integers, unknown extensions, deep nesting, cut-short entries).
import { gzipSync } from 'node:zlib'
import { encode } from '@msgpack/msgpack'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ForwardFramer } from './forward-framing.js'
import type { ForwardFrameRefusal } from './forward-framing.js'
import { eventTimeBytes, readMessage } from './forward-messages.js'
import { mapDocument } from './protocols/elastic-map.js'

const SEED = 24
const MAX_MESSAGE = 512
const DEFAULTS = { tenant: 't', source: 'forward' as const, observedNs: 1_764_504_000_000_000_000n }

const eventTime = Buffer.concat([Buffer.from([0xd7, 0x00]), eventTimeBytes(1_764_504_000_123_456_789n)])
const entry = (record: Record<string, unknown>) => Buffer.concat([Buffer.from([0x92]), eventTime, Buffer.from(encode(record))])
const packed = (entries: Buffer, option: Record<string, unknown>) => Buffer.concat([Buffer.from([0x93]), Buffer.from(encode('app.web')), Buffer.from(encode(entries)), Buffer.from(encode(option))])

/** Messages as senders write them, in every mode. */
const MESSAGES = [
  Buffer.concat([Buffer.from([0x94]), Buffer.from(encode('app')), eventTime, Buffer.from(encode({ log: 'one', level: 'warn' })), Buffer.from(encode({ chunk: 'c1' }))]),
  Buffer.from(encode(['app', [[1_764_504_000, { message: 'two' }], [1_764_504_001, { msg: 'three', n: 2 ** 60 }]], { chunk: 'c2' }])),
  packed(Buffer.concat([entry({ log: 'four', kubernetes: { container_name: 'web' } }), entry({ MESSAGE: 'five', PRIORITY: '3' })]), { chunk: 'c3' }),
  packed(gzipSync(Buffer.concat([entry({ log: 'six' }), entry({ cpu_p: 1.5, tags: ['a', 'b'] })])), { compressed: 'gzip', chunk: 'c4' }),
]

/** A byte string with a few bytes flipped, inserted, deleted or cut. */
function mutated(base: Buffer): fc.Arbitrary<Buffer> {
  return fc.array(fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'cut'), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }).map((edits) => {
    let b = Buffer.from(base)
    for (const [kind, at, byte] of edits) {
      const i = b.length === 0 ? 0 : at % b.length
      if (kind === 'flip' && b.length > 0) b[i] = byte
      else if (kind === 'insert') b = Buffer.concat([b.subarray(0, i), Buffer.from([byte]), b.subarray(i)])
      else if (kind === 'delete') b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)])
      else b = b.subarray(0, i)
    }
    return b
  })
}

const stream = fc.array(fc.oneof(fc.constantFrom(...MESSAGES), fc.constantFrom(...MESSAGES).chain(mutated), fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u))), { maxLength: 6 }).map((parts) => Buffer.concat(parts))

interface Framed {
  messages: string[]
  refusals: ForwardFrameRefusal[]
  broken: boolean
}

function frame(bytes: Buffer, cuts: number[]): Framed {
  const out: Framed = { messages: [], refusals: [], broken: false }
  const framer = new ForwardFramer(MAX_MESSAGE, {
    message: (b) => {
      expect(b.length).toBeLessThanOrEqual(MAX_MESSAGE)
      out.messages.push(b.toString('hex'))
    },
    refused: (reason) => void out.refusals.push(reason),
  })
  let at = 0
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    framer.push(bytes.subarray(at, cut))
    at = cut
  }
  framer.push(bytes.subarray(at))
  out.broken = framer.broken
  return out
}

/** A message read and each of its events mapped, as the listener does: none of it may throw. */
function readAndMap(bytes: Buffer): void {
  const m = readMessage(bytes, { maxEntriesBytes: 4096 })
  if (!m.ok) return
  for (const e of m.events) {
    const r = mapDocument(e.record, 'id', { 'fluent.tag': m.tag }, DEFAULTS, { timestampNs: e.timeNs, wholeAsMessage: true })
    if (r.ok) expect(r.doc.event ?? typeof r.doc.record.message).toBeTruthy()
  }
}

describe('forward protocol fuzzing', () => {
  it('frames a stream alike however it is cut, never over the limit', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const whole = frame(bytes, [])
        expect(frame(bytes, cuts)).toEqual(whole)
        for (const hex of whole.messages) readAndMap(Buffer.from(hex, 'hex'))
      }),
      { seed: SEED, numRuns: 400 },
    )
  })

  it('reads and maps any bytes of a message without throwing', () => {
    const anyMessage = fc.oneof(fc.constantFrom(...MESSAGES).chain(mutated), fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)))
    fc.assert(fc.property(anyMessage, (bytes) => readAndMap(bytes)), { seed: SEED, numRuns: 2000 })
  })

  it('reads the unusual values a sender may write: 64-bit integers, unknown extensions, deep nesting', () => {
    const big = Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
    const record = Buffer.concat([Buffer.from([0x82]), Buffer.from(encode('id')), big, Buffer.from(encode('list')), Buffer.from([0x91]), big])
    const message = Buffer.concat([Buffer.from([0x93]), Buffer.from(encode('app')), Buffer.from(encode(1_764_504_000)), record])
    const m = readMessage(message, { maxEntriesBytes: 4096 })
    expect(m).toMatchObject({ ok: true, events: [{ record: { id: '18446744073709551615', list: ['18446744073709551615'] } }] })
    const mapped = m.ok ? mapDocument(m.events[0]!.record, 'i', {}, DEFAULTS, { timestampNs: 1n, wholeAsMessage: true }) : undefined
    expect(mapped).toMatchObject({ ok: true, doc: { record: { message: '{"id":"18446744073709551615","list":["18446744073709551615"]}' } } })
    // An extension no one registered: the message is refused, not thrown.
    expect(readMessage(Buffer.concat([Buffer.from([0x93]), Buffer.from(encode('app')), Buffer.from(encode(1)), Buffer.from([0x81, 0xa1, 0x6b, 0xd4, 0x05, 0x01])]), { maxEntriesBytes: 4096 })).toMatchObject({ ok: false, reason: expect.stringMatching(/^not MessagePack/) })
    // Arrays nested 100 000 deep in a record: refused, not a stack overflow.
    const deep = Buffer.concat([Buffer.from([0x93]), Buffer.from(encode('app')), Buffer.from(encode(1)), Buffer.from([0x81, 0xa1, 0x6b]), Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])])
    expect(() => readAndMap(deep)).not.toThrow()
  })
})
