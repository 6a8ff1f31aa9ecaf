// Content codings of request bodies that @fastify/compress does not read on Node 20, decoded ahead
// of its hook (route hooks run last): `zstd` (zstd.ts), `snappy` and `x-snappy-framed`
// (snappy-body.ts), `lz4` (lz4-body.ts) — with gzip, deflate (and `zlib`, its name in the
// OpenTelemetry Collector's configuration, normalizeEncoding) and br, every compression the
// Collector's otlphttp exporter offers. The compressed body is read whole, at most `maxBytes`; the
// decoded one may not pass `maxBytes` either (413).
import { Readable } from 'node:stream'
import { SluiceError } from '@sluice/core'
import type { FastifyInstance } from 'fastify'
import { decodeLz4 } from './lz4-body.js'
import { decodeSnappy, decodeSnappyFramed } from './snappy-body.js'
import { decodeZstd } from './zstd.js'

const DECODERS: Readonly<Record<string, (body: Buffer, maxBytes: number) => Buffer | Promise<Buffer>>> = {
  zstd: decodeZstd,
  snappy: decodeSnappy,
  'x-snappy-framed': decodeSnappyFramed,
  lz4: decodeLz4,
}

/** Decodes the request bodies of `app` in the codings above; others are left to @fastify/compress. */
export function registerRequestCodings(app: FastifyInstance, maxBytes: number): void {
  // A callback hook: requests in other codings (nearly all) pass without a promise.
  app.addHook('preParsing', (req, _reply, payload, done) => {
    const coding = req.headers['content-encoding']
    const decode = coding === undefined ? undefined : DECODERS[coding]
    if (decode === undefined) return done(null, payload)
    delete req.headers['content-encoding']
    read(payload, coding!, maxBytes)
      .then(async (body) => {
        const decoded = await decode(body, maxBytes)
        // Fastify checks Content-Length against what the stream says it received: the encoded bytes.
        return Object.assign(Readable.from([decoded], { objectMode: false }), { receivedEncodedLength: body.length })
      })
      .then(
        (stream) => done(null, stream),
        (err: Error) => done(err),
      )
  })
}

/** The whole body, at most `maxBytes`. */
async function read(payload: AsyncIterable<Buffer>, coding: string, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let received = 0
  for await (const chunk of payload) {
    received += chunk.length
    if (received > maxBytes) throw new SluiceError('PAYLOAD_TOO_LARGE', `the ${coding} body is over ${maxBytes} bytes, the limit`)
    parts.push(chunk)
  }
  return Buffer.concat(parts, received)
}
