// The kafkajs record encoder replaced in kafkajs-patches.ts: what it writes, read back by kafkajs's
// own record decoder, and that a large record is written into one buffer of its size.
import { createRequire } from 'node:module'
import { describe, expect, it, vi } from 'vitest'
import './kafkajs-patches.js'

const require = createRequire(import.meta.url)
type Encoder = { buf: Buffer; buffer: Buffer }
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (args: Record<string, unknown>) => Encoder
const RecordDecoder = require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as (d: unknown, ctx: Record<string, unknown>) => Record<string, unknown>
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (b: Buffer) => { readVarInt(): number; offset: number }

function roundTrip(args: Record<string, unknown>) {
  const bytes = Record(args).buffer
  const decoder = new Decoder(bytes)
  const length = decoder.readVarInt()
  expect(decoder.offset + length).toBe(bytes.length)
  return RecordDecoder(decoder, { firstOffset: '100', firstTimestamp: '1700000000000', magicByte: 2 })
}

describe('kafkajs record encoder (patched)', () => {
  it('writes records kafkajs reads back: keys, values, deltas, headers, nulls', () => {
    const value = Buffer.alloc(900, 7)
    const r = roundTrip({ offsetDelta: 5, timestampDelta: 1234, key: 'acme/checkout', value, headers: { trace: 'abc', multi: ['x', 'y'] } })
    expect(r).toMatchObject({ offset: '105', timestamp: '1700000001234', key: Buffer.from('acme/checkout'), value })
    expect(r.headers).toEqual({ trace: Buffer.from('abc'), multi: [Buffer.from('x'), Buffer.from('y')] })
    expect(roundTrip({ key: null, value: null })).toMatchObject({ offset: '100', key: null, value: null })
  })

  it('allocates one buffer for a record over 512 bytes', () => {
    const value = Buffer.alloc(2000, 1)
    const alloc = vi.spyOn(Buffer, 'alloc')
    try {
      const e = Record({ key: Buffer.from('k'), value })
      expect(alloc).toHaveBeenCalledTimes(1)
      expect(e.buffer.length).toBeLessThanOrEqual(e.buf.length)
    } finally {
      alloc.mockRestore()
    }
  })
})
