// Raw fuzzing of syslog over TCP and UDP (fast-check, fixed seeds): the RFC 6587 framer fed random
// and mutated streams in random chunk sizes, and the RFC 5424/3164 parser fed random and mutated
// lines. The framer never throws, never emits a frame over its limit, and frames a stream the same
// however the network cut it into chunks; every line becomes a record with a message.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseSyslog } from '@sluice/core'
import { SyslogFramer } from './syslog-framing.js'
import type { FrameRefusal } from './syslog-framing.js'
import { frameText, syslogRecord } from './syslog-record.js'

const SEED = 15
const MAX_FRAME = 64

const LINES = [
  '<134>1 2026-11-30T19:29:35.003Z web-1 nginx 4412 ID47 [origin ip="10.0.0.1"][meta seq="7"] GET /health 200',
  '<14>Nov 30 19:27:12 vm app[9940]: disk at 91%',
  '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"] \uFEFFAn application event',
  'plain line without a PRI',
]

/** A stream as senders write one: frames in either framing, a few of them broken. */
const stream = fc
  .array(
    fc.oneof(
      fc.constantFrom(...LINES).map((l) => `${Buffer.byteLength(l)} ${l}`),
      fc.constantFrom(...LINES).map((l) => `${l}\n`),
      fc.constantFrom(...LINES).map((l) => `${l}\r\n`),
      fc.string({ unit: 'binary', maxLength: 80 }),
      fc.nat({ max: 99_999 }).map((n) => `${n} <1>`),
    ),
    { maxLength: 10 },
  )
  .map((parts) => Buffer.from(parts.join('')))
const randomBytes = fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u))

interface Framed {
  frames: string[]
  refusals: FrameRefusal[]
}

function frame(bytes: Buffer, cuts: number[]): Framed {
  const out: Framed = { frames: [], refusals: [] }
  const framer = new SyslogFramer(MAX_FRAME, {
    frame: (b) => {
      expect(b.length).toBeLessThanOrEqual(MAX_FRAME)
      out.frames.push(b.toString('latin1'))
    },
    refused: (reason) => out.refusals.push(reason),
  })
  let at = 0
  for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
    framer.push(bytes.subarray(at, cut))
    at = cut
  }
  framer.push(bytes.subarray(at))
  framer.end()
  return out
}

describe('syslog framer under fuzzing', () => {
  it('never throws, never emits a frame over the limit, whatever the bytes and chunking', () => {
    fc.assert(
      fc.property(fc.oneof(stream, randomBytes), fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        frame(bytes, cuts)
      }),
      { seed: SEED, numRuns: 1000 },
    )
  })

  it('frames a stream the same whether it arrives whole or in chunks', () => {
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
        const whole = frame(bytes, [])
        const chunked = frame(bytes, cuts)
        expect(chunked.frames).toEqual(whole.frames)
        // An oversized frame may be found before or after its trailer arrives; either way it is refused.
        expect(chunked.refusals.length > 0).toBe(whole.refusals.length > 0)
      }),
      { seed: SEED, numRuns: 1000 },
    )
  })

  it('skips an octet count claiming gigabytes without buffering it', () => {
    const out = frame(Buffer.from('9999999999 <1>abc\n<14>after\n'), [5, 17])
    expect(out.refusals).toEqual(['oversized', 'truncated'])
    expect(out.frames).toEqual([])
  })
})

describe('syslog parser under fuzzing', () => {
  it('turns any datagram or frame into a record with a message and a service, parsed or kept whole', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((u) => frameText(Buffer.from(u))),
          fc.tuple(fc.constantFrom(...LINES), fc.nat(), fc.string({ unit: 'grapheme', maxLength: 8 }), fc.nat({ max: 20 })).map(([l, at, ins, del]) => {
            const i = at % (l.length + 1)
            return l.slice(0, i) + ins + l.slice(i + del)
          }),
        ),
        (line) => {
          const { record } = syslogRecord(line, Date.UTC(2026, 10, 30))
          expect(typeof record.message).toBe('string')
          expect(typeof record.service).toBe('string')
          const m = parseSyslog(line, Date.UTC(2026, 10, 30))
          if (m) expect(typeof m.message).toBe('string')
        },
      ),
      { seed: SEED, numRuns: 2000 },
    )
  })
})
