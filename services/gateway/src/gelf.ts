// GELF (Graylog Extended Log Format 1.1), what Docker's `gelf` log driver, the GELF appenders and
// handlers of most languages (logback-gelf, log4j2's GelfLayout, graypy, pygelf, gelf-pro) and
// Graylog's own senders speak, on three doors:
//   UDP   GELF_UDP_PORT (12201): a datagram a message, or a message's chunks (gelf-chunks.ts);
//         gzip, zlib or plain, by its first bytes
//   TCP   GELF_TCP_PORT (12201): plain JSON messages, each ended by a NUL byte
//   HTTP  POST /gelf on the gateway's port: one message, or several one per line (Graylog's bulk
//         receiving); gzip, zlib or plain by the body's first bytes, as Graylog reads it
// Each message becomes a record as gelf-message.ts reads it. UDP and TCP are stream listeners
// (stream-listeners.ts: ordering, push-back, drops logged and counted), under GELF_TENANT, from
// the senders GELF_ALLOWED_SOURCES allows, source "gelf"; HTTP is an ingest route as the others,
// its tenant and key as theirs, source "http": 202 when every message was stored, 400 naming each
// refused one (the others stored all the same).
import { SluiceError, nowNs, uuidv7 } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import type { FastifyInstance } from 'fastify'
import { z } from 'zod'
import { jsonText, utf8Problem } from './body.js'
import { GelfChunks } from './gelf-chunks.js'
import { gelfRecord, inflatePayload } from './gelf-message.js'
import { guardedMap } from './protocols/elastic-map.js'
import { SKIP } from './ingest.js'
import type { EventDefaults } from './ingest.js'
import { releaseBody } from './protocol.js'
import type { ProtocolContext } from './protocol.js'
import { quote, startStreamListeners } from './stream-listeners.js'
import type { StreamListeners } from './stream-listeners.js'
import type { StreamReport } from './stream-report.js'

/** How long a chunked message's chunks may take to come (the specification's 5 s). */
export const CHUNK_WAIT_MS = 5_000
/** Chunked messages waiting for their chunks at most (each up to 128 chunks). */
const MAX_CHUNKED_MESSAGES = 1024

export function startGelf(ctx: ProtocolContext, opts = { chunkWaitMs: CHUNK_WAIT_MS }): Promise<StreamListeners> {
  const { config } = ctx
  const chunks = new GelfChunks({ waitMs: opts.chunkWaitMs, maxHeldBytes: config.maxBodyBytes, maxMessages: MAX_CHUNKED_MESSAGES })
  let sweep: NodeJS.Timeout | undefined
  const incomplete = (report: StreamReport, from: string, detail: string) => {
    report.received('udp')
    report.dropped('incomplete', 1, `from ${from}: ${detail}`)
  }
  /** While messages wait for chunks, those whose time is up are dropped, every second. */
  const watch = (report: StreamReport) => {
    sweep ??= setInterval(() => {
      for (const m of chunks.expired()) incomplete(report, m.from, m.detail)
      if (chunks.size === 0) {
        clearInterval(sweep)
        sweep = undefined
      }
    }, Math.min(1000, opts.chunkWaitMs)).unref()
  }
  return startStreamListeners(ctx, {
    name: 'gelf',
    names: { title: 'GELF' },
    tcpPort: config.gelfTcpPort,
    udpPort: config.gelfUdpPort,
    tenant: config.gelfTenant,
    allowedSources: config.gelfAllowedSources,
    env: { sources: 'GELF_ALLOWED_SOURCES', tcpPort: 'GELF_TCP_PORT', udpPort: 'GELF_UDP_PORT' },
    toRecord(text, from, _nowMs, id, first, d, report, log) {
      const r = guardedMap(() => gelfRecord(text, id, d), (err) => first && log.error({ err, from }, `gelf: could not read ${quote(text)}; dropped`))
      if (r.ok) return r.doc.event ?? r.doc.record
      if (first) report.dropped('invalid', 1, `from ${from}: ${r.reason}: ${quote(text)}`)
      return undefined
    },
    datagram(msg, from, report) {
      const r = chunks.take(msg, from, (m) => incomplete(report, m.from, m.detail))
      if ('problem' in r) {
        incomplete(report, from, r.problem)
        return undefined
      }
      if ('held' in r) {
        watch(report)
        return undefined
      }
      const inflated = inflatePayload(r.whole, config.maxRecordBytes)
      if (!inflated.ok) {
        report.received('udp')
        report.dropped('invalid', 1, `from ${from}: ${inflated.reason}`)
        return undefined
      }
      return inflated.bytes
    },
    close() {
      clearInterval(sweep)
    },
  })
}

/** POST /gelf: GELF over HTTP, as Graylog's GELF HTTP input takes it. */
export function registerGelf(api: FastifyInstance, ctx: ProtocolContext): void {
  void api.register(async (gelf) => {
    // The body is read here whatever its label (pygelf sends none), and its coding from its first
    // bytes, as Graylog does: pygelf labels its zlib body `gzip,deflate`.
    gelf.removeAllContentTypeParsers()
    gelf.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
    gelf.addHook('onRequest', async (req) => {
      delete req.headers['content-encoding']
    })
    const schema = {
      tags: ['ingest'],
      summary: 'GELF over HTTP: a GELF message (JSON), or several one per line; gzip, zlib or plain',
      description: '202 when every message was stored; 400 naming each refused message (the others stored).',
      body: z.unknown(),
    }
    gelf.post('/gelf', { schema }, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0)
      if (raw.length === 0) throw new SluiceError('VALIDATION_FAILED', 'empty body: send a GELF message (JSON)')
      const inflated = inflatePayload(raw, ctx.config.maxBodyBytes)
      if (!inflated.ok) throw new SluiceError('VALIDATION_FAILED', `the body is ${inflated.reason.replace('GATEWAY_MAX_RECORD_BYTES', 'GATEWAY_MAX_BODY_BYTES')}`)
      const problem = utf8Problem(inflated.bytes)
      if (problem) throw new SluiceError('VALIDATION_FAILED', `the body is ${problem}`)
      const d: EventDefaults = { tenant: ctx.tenantOf(req), source: 'http', observedNs: nowNs() }
      const records: unknown[] = []
      const errors: FieldError[] = []
      for (const line of jsonText(inflated.bytes).split('\n')) {
        if (line.trim() === '') continue
        const id = uuidv7()
        const r = guardedMap(() => gelfRecord(line, id, d), (err) => req.log.error({ err }, 'gelf: could not read a message; refused'))
        if (r.ok) records.push(r.doc.event ?? r.doc.record)
        else {
          errors.push({ index: records.length, field: '', message: r.reason })
          records.push(SKIP)
        }
      }
      if (records.length === 0) throw new SluiceError('VALIDATION_FAILED', 'no GELF message in the body')
      const accepting = ctx.ingest.records(records, { ...d, access: req.access }, errors)
      releaseBody(req)
      const result = await accepting
      if (result.errors.length === 0) return reply.code(202).send()
      const max = ctx.config.maxErrorsReported
      const all = [...result.errors].sort((a, b) => a.index - b.index)
      const first = all[0]!
      const status = result.accepted === 0 && result.forbidden > 0 && result.forbidden === result.rejected ? 403 : 400
      return reply.code(status).send({
        error: status === 403 ? 'FORBIDDEN' : 'VALIDATION_FAILED',
        message: `message ${first.index}: ${first.field ? `${first.field}: ` : ''}${first.message}${all.length > 1 ? ` (and ${all.length - 1} more)` : ''}`,
        accepted: result.accepted,
        rejected: result.rejected,
        errors: all.slice(0, max),
        ...(all.length > max && { errorsTruncated: true }),
      })
    })
  })
}
