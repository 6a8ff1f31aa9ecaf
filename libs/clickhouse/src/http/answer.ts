// Writing answers the way ClickHouse's HTTP interface does: plain-text errors with their code
// header and status, the X-ClickHouse-Summary header, the exception block that ends an answer
// failing midway, and the body through the compression the client asked for, with backpressure.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { Writable } from 'node:stream'
import { constants as zlibConstants, createBrotliCompress, createDeflate, createGzip } from 'node:zlib'
import { compressedBlocks } from './compressed.js'
import type { EngineInfo, QuerySummary } from './engine.js'
import { errorBody } from './errors.js'
import type { ClickHouseHttpError } from './errors.js'

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

export function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', ...headers })
  res.end(body)
}

export function sendError(res: ServerResponse, err: ClickHouseHttpError, version: string, queryId: string | undefined): void {
  const status = err.status
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': String(err.code),
    ...(queryId !== undefined && { 'X-ClickHouse-Query-Id': queryId }),
    ...(status === 401 && { 'WWW-Authenticate': 'Basic realm="ClickHouse"' }),
  })
  res.end(errorBody(err, version))
}

export function summaryHeader(s: QuerySummary, firstBytes: number): string {
  // ClickHouse sends every number of the summary as a string.
  return JSON.stringify({
    read_rows: String(s.read_rows),
    read_bytes: String(s.read_bytes),
    written_rows: String(s.written_rows ?? 0),
    written_bytes: '0',
    total_rows_to_read: '0',
    result_rows: String(s.result_rows),
    result_bytes: String(firstBytes),
    elapsed_ns: String(s.elapsed_ns),
  })
}

/**
 * ClickHouse's exception block inside a streamed answer (servers since 25.11):
 * `\r\n__exception__\r\n<tag>\r\n<message>\n<byte length of message + 1> <tag>\r\n__exception__\r\n`.
 */
export function exceptionBlock(err: ClickHouseHttpError, version: string, tag: string): Buffer {
  const message = errorBody(err, version).trimEnd()
  return Buffer.from(`\r\n__exception__\r\n${tag}\r\n${message}\n${Buffer.byteLength(message) + 1} ${tag}\r\n__exception__\r\n`)
}

export type Encoding = { kind: 'identity'; contentEncoding?: undefined } | { kind: 'native'; contentEncoding?: undefined } | { kind: 'http'; contentEncoding: 'gzip' | 'deflate' | 'br'; level: number }

/**
 * compress=1: ClickHouse's framing (compressed.ts). Otherwise HTTP compression when the effective
 * enable_http_compression is 1 (chdb's default is 1) and the client accepts gzip, deflate or br —
 * gzip first: cheapest for the Sluice process at the level asked (http_zlib_compression_level, 3).
 */
export function chooseEncoding(req: IncomingMessage, params: ReadonlyMap<string, string>, info: EngineInfo): Encoding {
  if (params.get('compress') === '1') return { kind: 'native' }
  const enabled = ['1', 'true'].includes(params.get('enable_http_compression') ?? info.httpCompressionDefault)
  const accepted = (header(req, 'accept-encoding') ?? '').toLowerCase().split(',').map((s) => s.split(';')[0]!.trim())
  const level = Math.min(9, Math.max(1, Number(params.get('http_zlib_compression_level') ?? 3) || 3))
  if (!enabled) return { kind: 'identity' }
  for (const method of ['gzip', 'deflate', 'br'] as const) if (accepted.includes(method)) return { kind: 'http', contentEncoding: method, level }
  return { kind: 'identity' }
}

export interface BodyWriter {
  write(bytes: Buffer): Promise<void>
  end(): Promise<void>
  /** Writes ClickHouse's exception block, then drops the connection without ending the body. */
  fail(block: Buffer): Promise<void>
}

export function bodyWriter(res: ServerResponse, encoding: Encoding): BodyWriter {
  const drop = () => res.destroy()
  if (encoding.kind === 'http') {
    const z =
      encoding.contentEncoding === 'gzip'
        ? createGzip({ level: encoding.level })
        : encoding.contentEncoding === 'deflate'
          ? createDeflate({ level: encoding.level })
          : createBrotliCompress({ params: { [zlibConstants.BROTLI_PARAM_QUALITY]: encoding.level } })
    z.pipe(res)
    z.on('error', drop)
    return {
      write: (bytes) => writeTo(z, bytes),
      end: async () => {
        z.end()
        await finished(res)
      },
      fail: async (block) => {
        await writeTo(z, block)
        await new Promise<void>((resolve) => z.flush(() => resolve()))
        await flushed(res)
        drop()
      },
    }
  }
  const frame = encoding.kind === 'native' ? (bytes: Buffer) => Buffer.concat(compressedBlocks(bytes)) : (bytes: Buffer) => bytes
  return {
    write: (bytes) => writeTo(res, frame(bytes)),
    end: async () => {
      res.end()
      await finished(res)
    },
    fail: async (block) => {
      await writeTo(res, frame(block))
      await flushed(res)
      drop()
    },
  }
}

/** Writes and waits until the destination takes more (backpressure), or fails when it is gone. */
async function writeTo(dest: Writable, bytes: Buffer): Promise<void> {
  if (dest.destroyed) throw new Error('client went away')
  if (dest.write(bytes)) return
  await new Promise<void>((resolve, reject) => {
    const cleanup = () => {
      dest.off('drain', onDrain)
      dest.off('close', onClose)
    }
    const onDrain = () => {
      cleanup()
      resolve()
    }
    const onClose = () => {
      cleanup()
      reject(new Error('client went away'))
    }
    dest.on('drain', onDrain)
    dest.on('close', onClose)
  })
}

async function finished(res: ServerResponse): Promise<void> {
  if (res.writableFinished || res.destroyed) return
  await Promise.race([once(res, 'finish'), once(res, 'close')])
}

/** Resolves once what was written so far has been handed to the socket. */
function flushed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) return resolve()
    res.write('', () => resolve())
  })
}
