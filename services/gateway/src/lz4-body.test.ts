// Content-Encoding lz4 (lz4-body.ts): frames written by another implementation (lz4-napi, the Rust
// lz4_flex encoder) with and without checksums, frames built here byte by byte for what encoders
// rarely write (linked blocks, stored blocks, skippable frames, a content size), and every way a
// body can be wrong. The real OpenTelemetry Collector sending lz4 is in
// test/e2e/ingest-collector.e2e.test.ts.
import fc from 'fast-check'
import { compressFrameSync } from 'lz4-napi'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import xxhash from 'xxhash-wasm'
import { decodeLz4 } from './lz4-body.js'
import { fakeGateway } from './test-fakes.js'

const LIMIT = 1_000_000
const { h32Raw } = await xxhash()

const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return b
}

/** A frame of `blocks` (already in the block format, or stored when `stored`), its descriptor as asked. */
function frame(blocks: Array<{ data: Buffer; stored?: boolean }>, o: { independent?: boolean; blockChecksums?: boolean; contentSize?: number; content?: Buffer; bd?: number } = {}): Buffer {
  const flg = 0x40 | (o.independent === false ? 0 : 0x20) | (o.blockChecksums ? 0x10 : 0) | (o.contentSize !== undefined ? 0x08 : 0) | (o.content ? 0x04 : 0)
  const descriptor = Buffer.from([flg, o.bd ?? 0x40])
  const size = o.contentSize === undefined ? Buffer.alloc(0) : Buffer.alloc(8)
  if (o.contentSize !== undefined) size.writeBigUInt64LE(BigInt(o.contentSize))
  const header = Buffer.concat([descriptor, size])
  const parts: Buffer[] = [u32(0x184d2204), header, Buffer.from([(h32Raw(header, 0) >>> 8) & 0xff])]
  for (const b of blocks) {
    parts.push(u32(b.data.length | (b.stored ? 0x80000000 : 0)), b.data)
    if (o.blockChecksums) parts.push(u32(h32Raw(b.data, 0)))
  }
  parts.push(u32(0))
  if (o.content) parts.push(u32(h32Raw(o.content, 0)))
  return Buffer.concat(parts)
}

/** A block of literals alone (the form of a block's last sequence). */
const literals = (text: string) => {
  const data = Buffer.from(text)
  const n = data.length
  return Buffer.concat([Buffer.from(n >= 15 ? [0xf0, ...lengthBytes(n - 15)] : [n << 4]), data])
}
function lengthBytes(n: number): number[] {
  const out: number[] = []
  for (; n >= 255; n -= 255) out.push(255)
  out.push(n)
  return out
}

const lines = (...messages: string[]) => Buffer.from(messages.map((message) => `${JSON.stringify({ service: 'lz4', message })}\n`).join(''))
const decoded = async (body: Buffer) => (await decodeLz4(body, LIMIT)).toString()
const refusal = async (body: Buffer, limit = LIMIT) => {
  try {
    await decodeLz4(body, limit)
  } catch (err) {
    if (isSluiceError(err)) return [err.code, err.message]
    throw err
  }
  return ['decoded']
}

describe('Content-Encoding lz4', () => {
  it('decodes frames of another encoder, with and without block and content checksums, and large ones', async () => {
    const text = lines(...Array.from({ length: 200 }, (_, i) => `record ${i % 7} of a repetitive body`)).toString()
    for (const options of [{}, { contentChecksum: true }, { blockChecksums: true, contentChecksum: true }]) expect(await decoded(compressFrameSync(Buffer.from(text), options))).toBe(text)
    // Past one 64 KiB block, and incompressible data (stored blocks).
    const big = Buffer.from(Array.from({ length: 300_000 }, (_, i) => String.fromCharCode(97 + ((i * 7919) % 26))).join(''))
    expect((await decodeLz4(compressFrameSync(big), LIMIT)).equals(big)).toBe(true)
    const noise = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 2654435761) >>> 24))
    expect((await decodeLz4(compressFrameSync(noise, { contentChecksum: true }), LIMIT)).equals(noise)).toBe(true)
    // Frames back to back, a skippable frame between them.
    const skippable = Buffer.concat([u32(0x184d2a5e), u32(3), Buffer.from('abc')])
    expect(await decoded(Buffer.concat([compressFrameSync(Buffer.from('one ')), skippable, compressFrameSync(Buffer.from('two'))]))).toBe('one two')
  })

  it('reads linked blocks, whose matches reach into the block before, stored blocks and a content size', async () => {
    // Block 2: a match of 8 at offset 8 (the first block's bytes), then the last literal.
    const second = Buffer.from([0x04, 0x08, 0x00, 0x10, ...Buffer.from('z')])
    const content = Buffer.from('abcdefghabcdefghz!')
    const linked = frame([{ data: literals('abcdefgh') }, { data: second }, { data: Buffer.from('!'), stored: true }], { independent: false, blockChecksums: true, contentSize: 18, content })
    expect(await decoded(linked)).toBe('abcdefghabcdefghz!')
    // An overlapping match (offset 1, length 10) repeats the byte before it.
    expect(await decoded(frame([{ data: Buffer.from([0x16, ...Buffer.from('x'), 0x01, 0x00, 0x10, ...Buffer.from('y')]) }]))).toBe('xxxxxxxxxxxy')
    // Long ones too: offset 2, length 4 + 15 + 40; and a long match that does not overlap (offset 40, length 59).
    expect(await decoded(frame([{ data: Buffer.from([0x2f, ...Buffer.from('ab'), 0x02, 0x00, 40, 0x10, ...Buffer.from('y')]) }]))).toBe(`${'ab'.repeat(30)}ay`)
    const forty = 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'
    expect(await decoded(frame([{ data: Buffer.from([0xff, 40 - 15, ...Buffer.from(forty), 40, 0x00, 40, 0x10, ...Buffer.from('!')]) }]))).toBe(`${forty}${forty}${forty.slice(0, 19)}!`)
    // A literal run of 15 + 255 + 10 bytes.
    expect(await decoded(frame([{ data: literals('L'.repeat(280)) }]))).toBe('L'.repeat(280))
  })

  it('refuses what is damaged or malformed (400), and what decodes past the limit (413)', async () => {
    const good = compressFrameSync(Buffer.from('checked checked checked'), { blockChecksums: true, contentChecksum: true })
    const flip = (at: number) => {
      const b = Buffer.from(good)
      b[at] = b[at]! ^ 0x01
      return b
    }
    expect(await refusal(flip(6))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a frame descriptor fails its checksum: the body was damaged'])
    expect(await refusal(flip(12))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a block fails its checksum: the body was damaged'])
    const content = Buffer.from('abc')
    const wrongContent = frame([{ data: literals('abd') }], { content })
    expect(await refusal(wrongContent)).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a frame fails its content checksum: the body was damaged'])
    expect(await refusal(good.subarray(0, good.length - 6))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: the body ends inside a frame'])
    expect(await refusal(Buffer.from('plain text, no frame'))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: not an LZ4 frame (bad magic number)'])
    expect(await refusal(Buffer.alloc(0))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: an empty body'])
    // Matches that reach before the data: before the frame, or before an independent block.
    const second = Buffer.from([0x04, 0x08, 0x00, 0x10, ...Buffer.from('z')])
    expect(await refusal(frame([{ data: literals('abcdefgh') }, { data: second }], { independent: true }))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a match reaches before the start of the data'])
    expect(await refusal(frame([{ data: Buffer.from([0x10, 0x61, 0x00, 0x00, 0x10, 0x61]) }]))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a match at offset 0'])
    // A block that ends on a match, not on literals; one larger than its frame's blocks may be.
    expect(await refusal(frame([{ data: Buffer.from([0x14, 0x61, 0x01, 0x00]) }]))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a block ends without its last literals'])
    expect(await refusal(frame([{ data: Buffer.alloc(70_000, 0x61), stored: true }]))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a block of 70000 bytes in a frame of blocks of at most 65536'])
    // A dictionary, a version other than 01, a reserved bit.
    const header = (flg: number, bd = 0x40) => Buffer.concat([u32(0x184d2204), Buffer.from([flg, bd, (h32Raw(Buffer.from([flg, bd]), 0) >>> 8) & 0xff]), u32(0)])
    expect(await refusal(header(0x61))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: frames with a dictionary are not supported'])
    expect(await refusal(header(0x80))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: an LZ4 frame of version 2; only version 01 is defined'])
    expect(await refusal(header(0x62))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a frame descriptor with a reserved bit set'])
    expect(await refusal(header(0x60, 0x30))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a block maximum size code of 3; 4 to 7 are defined'])
    // A content size past the limit is refused before decoding; a body that decodes past it, as it passes it.
    expect(await refusal(frame([{ data: literals('a') }], { contentSize: LIMIT + 1 }))).toEqual(['PAYLOAD_TOO_LARGE', `an lz4 frame of the body holds ${LIMIT + 1} bytes; the limit is ${LIMIT}`])
    const bomb = compressFrameSync(Buffer.alloc(5_000_000, 0x61))
    expect(bomb.length).toBeLessThan(100_000)
    expect(await refusal(bomb)).toEqual(['PAYLOAD_TOO_LARGE', `the lz4 body decodes to more than ${LIMIT} bytes, the limit`])
    expect(await refusal(frame([{ data: literals('abc') }], { contentSize: 4 }))).toEqual(['VALIDATION_FAILED', 'Content-Encoding lz4: a frame says it holds 4 bytes and holds 3'])
  })

  it('decodes or refuses any damage to a body with a 4xx error, never anything else', async () => {
    const body = compressFrameSync(lines('a', 'b', 'c', 'a', 'b', 'c'), { contentChecksum: true })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }), fc.option(fc.nat()), async (edits, cut) => {
        const damaged = Buffer.from(body)
        for (const e of edits) damaged[e.at % damaged.length] = e.byte
        const input = cut === null ? damaged : damaged.subarray(0, cut % (damaged.length + 1))
        try {
          await decodeLz4(input, 10_000)
        } catch (err) {
          expect(isSluiceError(err) && ['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE'].includes(err.code)).toBe(true)
        }
      }),
      { numRuns: 1000 },
    )
  })

  it('takes lz4 bodies at every HTTP door, and answers a bad one 400 and a bomb 413', async () => {
    const { app, messages } = fakeGateway(LIMIT)
    const post = (payload: Buffer) => app.inject({ method: 'POST', url: '/v1/logs', payload, headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'lz4' } })
    expect((await post(compressFrameSync(lines('first', 'second')))).json()).toEqual({ accepted: 2, rejected: 0 })
    const res = await post(Buffer.from('not lz4'))
    expect([res.statusCode, res.json().message]).toEqual([400, 'Content-Encoding lz4: not an LZ4 frame (bad magic number)'])
    const bomb = await post(compressFrameSync(Buffer.alloc(5_000_000, 0x61)))
    expect(bomb.statusCode).toBe(413)
    expect(messages()).toEqual(['first', 'second'])
    await app.close()
  })
})
