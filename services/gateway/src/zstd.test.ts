// Content-Encoding: zstd on the gateway's HTTP routes. Bodies made by the zstd command-line tool
// (base64 below) show real compressed input decodes; frames built here byte by byte (RFC 8878
// §3.1: a frame header, then blocks, each a 3-byte header: last flag, type, size) aim at the
// limits: a bomb of run-length blocks, a window or content size past what is given, a dictionary.
// The real OpenTelemetry Collector sending zstd is in test/e2e/ingest-collector.e2e.test.ts.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import { fakeGateway } from './test-fakes.js'
import { MAX_WINDOW_BYTES, checkFrames, decodeZstd } from './zstd.js'

const LIMIT = 1_000_000

const gateway = () => fakeGateway(LIMIT)

const post = (app: ReturnType<typeof gateway>['app'], url: string, body: Buffer, contentType = 'application/x-ndjson') =>
  app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': contentType, 'content-encoding': 'zstd' } })

// printf '{"service":"zs","message":"first"}\n{"service":"zs","message":"second"}\n' | zstd -c --no-content-size
const CLI_TWO_LINES = Buffer.from('KLUv/QRYpQEAxAJ7InNlcnZpY2UiOiJ6cyIsIm1lc3NhZ2UiOiJmaXJzdCJ9CnNlY29uZCJ9CgEAM6F6AvE+NZ0=', 'base64')
// Two frames of `zstd -c file` (content size and checksum), a skippable frame of 3 bytes between them.
const CLI_FRAMES = Buffer.from('KLUv/SQjGQEAeyJzZXJ2aWNlIjoienMiLCJtZXNzYWdlIjoidGhpcmQifQqJ+sUXUCpNGAMAAABhYmMotS/9JCQhAQB7InNlcnZpY2UiOiJ6cyIsIm1lc3NhZ2UiOiJmb3VydGgifQoEv5iL', 'base64')
// printf '{"service":"zs","message":"x"}\n' | zstd -c --long=27 --no-content-size: a 128 MB window.
const CLI_LONG_WINDOW = Buffer.from('KLUv/QSI+QAAeyJzZXJ2aWNlIjoienMiLCJtZXNzYWdlIjoieCJ9Cp4xviw=', 'base64')

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd]
/** A frame header without content size: no single segment, no checksum, no dictionary; a 128 KB window. */
const HEADER_128K = Buffer.from([...MAGIC, 0x00, 0x38])
function block(type: 'raw' | 'rle', content: Buffer, last: boolean, size = content.length): Buffer {
  const h = (last ? 1 : 0) | ((type === 'raw' ? 0 : 1) << 1) | (size << 3)
  return Buffer.concat([Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), content])
}
/** `n` run-length blocks of 128 KB of 'a' each: n × 128 KB from 6 + 4n bytes. */
const bomb = (n: number) => Buffer.concat([HEADER_128K, ...Array.from({ length: n }, (_, i) => block('rle', Buffer.from('a'), i === n - 1, 128 * 1024))])

describe('Content-Encoding: zstd', () => {
  it('decodes what the zstd tool compressed, on every HTTP protocol route', async () => {
    const { app, messages } = gateway()
    const native = await post(app, '/v1/logs', CLI_TWO_LINES)
    expect([native.statusCode, native.json()]).toEqual([200, { accepted: 2, rejected: 0 }])
    // Frames one after another, and a skippable frame, as RFC 8878 allows.
    expect((await post(app, '/v1/logs', CLI_FRAMES)).statusCode).toBe(200)
    const bulk = Buffer.concat([HEADER_128K, block('raw', Buffer.from('{"create":{"_index":"app"}}\n{"message":"via bulk"}\n'), true)])
    const es = await post(app, '/_bulk', bulk)
    expect([es.statusCode, es.json().errors]).toEqual([200, false])
    const loki = Buffer.concat([HEADER_128K, block('raw', Buffer.from(JSON.stringify({ streams: [{ stream: { app: 'zs' }, values: [[`${Date.now()}000000`, 'via loki']] }] })), true)])
    expect((await post(app, '/loki/api/v1/push', loki, 'application/json')).statusCode).toBe(204)
    expect(messages()).toEqual(['first', 'second', 'third', 'fourth', 'via bulk', 'via loki'])
    await app.close()
  })

  it('refuses a body that decodes past the limit (413), and takes one just under it', async () => {
    const { app, messages } = gateway()
    // 64 bytes that decode to 2 MB: stopped at the first block past 1 MB.
    const res = await post(app, '/v1/logs', bomb(16))
    expect([res.statusCode, res.json()]).toEqual([413, { error: 'PAYLOAD_TOO_LARGE', message: `the zstd body decodes to more than ${LIMIT} bytes, the limit` }])
    await expect(decodeZstd(bomb(16), LIMIT)).rejects.toThrow(/decodes to more than/)
    expect(await decodeZstd(bomb(7), LIMIT)).toHaveLength(7 * 128 * 1024)
    // A frame that says up front it holds more than the limit is refused unread.
    const declared = Buffer.concat([Buffer.from([...MAGIC, 0x80, 0x38]), Buffer.from([0x00, 0x00, 0x00, 0x10]), block('rle', Buffer.from('a'), true, 1)])
    expect(() => checkFrames(declared, LIMIT)).toThrow(/holds 268435456 bytes; the limit is 1000000/)
    expect(messages()).toEqual([])
    await app.close()
  })

  it('refuses windows over 8 MB and dictionaries before decoding, and damaged or cut frames (400)', async () => {
    const { app, messages } = gateway()
    const long = await post(app, '/v1/logs', CLI_LONG_WINDOW)
    expect([long.statusCode, long.json().message]).toEqual([400, `Content-Encoding zstd: a frame needs a 134217728-byte window; at most ${MAX_WINDOW_BYTES} is given (RFC 9659: 8 MB)`])
    const dictionary = Buffer.from([...MAGIC, 0x01, 0x38, 0x07])
    expect(() => checkFrames(dictionary, LIMIT)).toThrow(/dictionary/)
    // A byte of the text changed: it still decodes, to other text, which the checksum catches.
    const damaged = Buffer.from(CLI_TWO_LINES)
    damaged[40] = damaged[40]! ^ 0x01
    const res = await post(app, '/v1/logs', damaged)
    expect([res.statusCode, res.json().message]).toEqual([400, 'Content-Encoding zstd: frame 1 fails its checksum: the body was damaged'])
    const cut = await post(app, '/v1/logs', CLI_TWO_LINES.subarray(0, 20))
    expect([cut.statusCode, cut.json().message]).toEqual([400, 'Content-Encoding zstd: the body ends inside a frame'])
    expect(messages()).toEqual([])
    await app.close()
  })

  it('decodes or refuses any damage to a frame with a 4xx error, never anything else', async () => {
    const edit = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) })
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(CLI_TWO_LINES, CLI_FRAMES, bomb(3)), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.option(fc.nat()), async (seed, edits, cut) => {
        const body = Buffer.from(seed)
        for (const e of edits) body[e.at % body.length] = e.byte
        const input = cut === null ? body : body.subarray(0, cut % body.length)
        const outcome = await decodeZstd(input, LIMIT).then(
          () => 'decoded',
          (err: unknown) => (isSluiceError(err) && (err.code === 'VALIDATION_FAILED' || err.code === 'PAYLOAD_TOO_LARGE') ? 'refused' : err),
        )
        expect(['decoded', 'refused']).toContain(outcome)
      }),
      { seed: 20261207, numRuns: 500 },
    )
  })
})
