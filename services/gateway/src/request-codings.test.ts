// The request codings @fastify/compress does not read on Node 20, beside zstd (zstd.test.ts):
// snappy as one block and in the framing format (github.com/google/snappy framing_format.txt;
// streams built here chunk by chunk), and `zlib`, the OpenTelemetry Collector's name for deflate.
// The real Collector sending each is in test/e2e/ingest-collector.e2e.test.ts.
import { deflateSync } from 'node:zlib'
import fc from 'fast-check'
import { compressSync } from 'snappy'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import { crc32c, decodeSnappy, decodeSnappyFramed, maskedCrc32c } from './snappy-body.js'
import { fakeGateway } from './test-fakes.js'

const LIMIT = 1_000_000

const gateway = () => fakeGateway(LIMIT)

const post = (app: ReturnType<typeof gateway>['app'], body: Buffer, coding: string) =>
  app.inject({ method: 'POST', url: '/v1/logs', payload: body, headers: { 'content-type': 'application/x-ndjson', 'content-encoding': coding } })

const lines = (...messages: string[]) => Buffer.from(messages.map((message) => `${JSON.stringify({ service: 'codings', message })}\n`).join(''))

const STREAM_IDENTIFIER = Buffer.from([0xff, 0x06, 0x00, 0x00, ...Buffer.from('sNaPpY')])
function chunk(type: number, content: Buffer): Buffer {
  const header = Buffer.alloc(4)
  header[0] = type
  header.writeUIntLE(content.length, 1, 3)
  return Buffer.concat([header, content])
}
const checksum = (data: Buffer) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(maskedCrc32c(data))
  return b
}
const compressed = (data: Buffer) => chunk(0x00, Buffer.concat([checksum(data), compressSync(data)]))
const uncompressed = (data: Buffer) => chunk(0x01, Buffer.concat([checksum(data), data]))

describe('request codings beside zstd', () => {
  it('computes CRC-32C as the framing format does', () => {
    // The check value of CRC-32C (RFC 3720 B.4) and of the Castagnoli catalogue.
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa)
  })

  it('reads snappy as a block and framed, x-snappy-framed, and zlib as deflate', async () => {
    const { app, messages } = gateway()
    expect((await post(app, compressSync(lines('block one', 'block two')), 'snappy')).json()).toEqual({ accepted: 2, rejected: 0 })
    const framed = Buffer.concat([STREAM_IDENTIFIER, compressed(lines('framed one')), chunk(0xfe, Buffer.alloc(5)), uncompressed(lines('framed two')), chunk(0x80, Buffer.from('skip me')), compressed(lines('framed three'))])
    expect((await post(app, framed, 'x-snappy-framed')).json()).toEqual({ accepted: 3, rejected: 0 })
    // Older Collectors sent framed bodies as `snappy`: read as framed by their first bytes.
    expect((await post(app, framed, 'snappy')).json()).toEqual({ accepted: 3, rejected: 0 })
    expect((await post(app, deflateSync(lines('zlib')), 'ZLIB')).json()).toEqual({ accepted: 1, rejected: 0 })
    expect(messages()).toEqual(['block one', 'block two', 'framed one', 'framed two', 'framed three', 'framed one', 'framed two', 'framed three', 'zlib'])
    await app.close()
  })

  it('refuses a damaged, cut or malformed body (400) and one past the limit (413)', async () => {
    const { app, messages } = gateway()
    const refusal = async (body: Buffer, coding: string) => {
      const res = await post(app, body, coding)
      return [res.statusCode, res.json().message]
    }
    const data = lines('checked')
    const damaged = compressed(data)
    damaged[4] = damaged[4]! ^ 0x01
    expect(await refusal(Buffer.concat([STREAM_IDENTIFIER, damaged]), 'x-snappy-framed')).toEqual([400, 'Content-Encoding x-snappy-framed: a chunk fails its checksum: the body was damaged'])
    expect(await refusal(Buffer.concat([STREAM_IDENTIFIER, compressed(data)]).subarray(0, 20), 'x-snappy-framed')).toEqual([400, 'Content-Encoding x-snappy-framed: the body ends inside a chunk'])
    expect(await refusal(Buffer.concat([STREAM_IDENTIFIER, chunk(0x02, data)]), 'x-snappy-framed')).toEqual([400, 'Content-Encoding x-snappy-framed: a reserved unskippable chunk (type 2)'])
    expect(await refusal(compressSync(data), 'x-snappy-framed')).toEqual([400, 'Content-Encoding x-snappy-framed: the body does not start with the snappy stream identifier'])
    // A chunk holds at most 64 KiB; a block announces its length, read before anything is decoded.
    expect(await refusal(Buffer.concat([STREAM_IDENTIFIER, compressed(Buffer.alloc(70_000, 'a'))]), 'x-snappy-framed')).toEqual([400, 'Content-Encoding x-snappy-framed: a chunk of more than 65536 bytes'])
    expect(await refusal(compressSync(Buffer.alloc(LIMIT + 1, 'a')), 'snappy')).toEqual([413, `the snappy body decodes to more than ${LIMIT} bytes, the limit`])
    const many = Buffer.concat([STREAM_IDENTIFIER, ...Array.from({ length: 16 }, () => compressed(Buffer.alloc(65_536, 'a')))])
    expect(await refusal(many, 'x-snappy-framed')).toEqual([413, `the snappy body decodes to more than ${LIMIT} bytes, the limit`])
    expect(messages()).toEqual([])
    await app.close()
  })

  it('decodes or refuses any damage to a body with a 4xx error, never anything else', () => {
    const framed = Buffer.concat([STREAM_IDENTIFIER, compressed(lines('a', 'b')), uncompressed(lines('c'))])
    const block = compressSync(lines('a', 'b', 'c'))
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) })
    fc.assert(
      fc.property(fc.constantFrom(framed, block), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.option(fc.nat()), (seed, edits, cut) => {
        const body = Buffer.from(seed)
        for (const e of edits) body[e.at % body.length] = e.byte
        const input = cut === null ? body : body.subarray(0, cut % body.length)
        for (const decode of [decodeSnappy, decodeSnappyFramed]) {
          try {
            decode(input, LIMIT)
          } catch (err) {
            expect(isSluiceError(err) && ['VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE'].includes(err.code), String(err)).toBe(true)
          }
        }
      }),
      { seed: 20261207, numRuns: 1000 },
    )
  })
})
