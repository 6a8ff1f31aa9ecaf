// ClickHouse's HTTP interface, served read-only from the process that holds the embedded engine.
// An embedded data directory belongs to one process, so analyst tools (clickhouse-connect and
// pandas, the JDBC driver and DBeaver, Grafana, @clickhouse/client) cannot open it while Sluice
// runs; this speaks the protocol they already use (https://clickhouse.com/docs/interfaces/http):
//   GET|HEAD /, /ping, /replicas_status             "Ok.\n"
//   GET /?query=…   POST / (query in the body, or `query` + body, or multipart/form-data fields)
//   database, default_format, query_id, param_<name>, settings       URL parameters
//   X-ClickHouse-User/-Key, HTTP basic auth, user/password            credentials
//   X-ClickHouse-Database, X-ClickHouse-Format                        request headers
//   X-ClickHouse-Query-Id, -Format, -Timezone, -Summary, -Server-Display-Name, -Exception-Tag  answer headers
//   errors: `Code: N. DB::Exception: …`, X-ClickHouse-Exception-Code, ClickHouse's HTTP status
//   compress=1 (ClickHouse's framing, compressed.ts) or Accept-Encoding gzip/deflate/br
// How a query stays read-only and its settings private is engine.ts's header; which parameters a
// client may pass is settings.ts's.
//
// With a service password, one more user — Sluice's own processes in other places (more sinks and
// query APIs, CLICKHOUSE_URL pointing here) — has write access: migrations, commands, queries,
// and INSERTs with their rows in the body (insert-statement.ts), without readonly, limits, tenant
// scope or a turn among the analysts' concurrent queries. This process is then their ClickHouse.
//
// Answers stream: rows go out as the engine produces them, one chunk at a time, waiting for the
// client to take each before the next is fetched. A failure after the first bytes (a limit hit
// midway) ends the answer with ClickHouse's exception block (X-ClickHouse-Exception-Tag, as servers
// since 25.11 send it, which clickhouse-connect and @clickhouse/client parse) and then drops the
// connection without completing the chunked body, so no client mistakes a cut result for a whole one.
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate } from 'node:zlib'
import type { ClickHouseHandle } from './client.js'
import { bodyWriter, chooseEncoding, exceptionBlock, header, sendError, summaryHeader, text } from './http/answer.js'
import { authenticate, isServiceUser, requestCredentials } from './http/auth.js'
import type { Credentials } from './http/auth.js'
import { Engine } from './http/engine.js'
import type { QueryAnswer, QuerySummary } from './http/engine.js'
import { fromEngineError, refusal } from './http/errors.js'
import { compressionOf } from './http/insert-statement.js'
import type { InsertData } from './http/insert-statement.js'
import { multipartBoundary, parseMultipart } from './http/multipart.js'
import { planRequest, planServiceRequest } from './http/settings.js'
import { Slots } from './http/slots.js'
import { temporaryInsertFile } from './insert.js'

/** The logger methods used (pino's Logger has them). */
export interface HttpInterfaceLogger {
  debug(obj: object, msg: string): void
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface HttpInterfaceOptions {
  host: string
  /** 0 picks a free port (the runtime does not start the interface for CLICKHOUSE_HTTP_PORT=0). */
  port: number
  /** The one user; clients that send no user name are `default`. */
  user: string
  /** Empty: the user has no password, and only connections from this host (loopback) are accepted. */
  password: string
  /** Database of queries that name none (the Sluice database). */
  database: string
  /** Most rows one result may hold (max_result_rows, result_overflow_mode = throw); 0 = no limit. */
  maxResultRows: number
  /** A query running longer is stopped (max_execution_time). */
  timeoutMs: number
  /** Memory one query may use (max_memory_usage); 0 = the engine's default. */
  maxMemoryBytes: number
  /** Queries running at once; more wait up to timeoutMs for a turn. */
  maxConcurrentQueries: number
  /** When set, every table with a tenant column shows only this tenant's rows. */
  tenant?: string | undefined
  /**
   * Sluice's API keys as passwords (SLUICE_AUTH=true): the tenant a key's queries are scoped to
   * (undefined: every tenant), `refused` with why for a key that may not query, or undefined when
   * the password is no key — then the configured user is checked.
   */
  apiKeys?: ((credentials: Credentials) => { tenant: string | undefined } | { refused: string } | undefined) | undefined
  /** Sluice's own processes elsewhere: this user has write access and no limits (default `sluice`). */
  serviceUser?: string | undefined
  /** The service user's password; empty or absent: there is no service user, nothing can write. */
  servicePassword?: string | undefined
  logger?: HttpInterfaceLogger
}

export interface HttpInterface {
  /** Starts listening; resolves with the address, e.g. http://127.0.0.1:8123. */
  listen(): Promise<string>
  /** Stops accepting, ends running answers, and waits (briefly) for them to release their engine sessions. */
  close(): Promise<void>
}

const MAX_BODY_BYTES = 1 << 20
/** A service statement sent as the body (or multipart fields): DDL, commands, rows inline. */
const SERVICE_MAX_QUERY_BYTES = 16 << 20
/** The rows of one service INSERT as sent (compressed or not), written to a file as they arrive. */
const SERVICE_MAX_INSERT_BYTES = 1 << 30
const MAX_WAITING_QUERIES = 64
/** Beyond max_execution_time, how long an answer the client is slow to take may keep its session. */
const DEADLINE_GRACE_MS = 10_000
/** How long close() waits for running answers to unwind. */
const CLOSE_WAIT_MS = 2_000
const OK = 'Ok.\n'
const NOT_FOUND = `There is no handle {path}

Use / or /ping for health checks.
Or /replicas_status for more sophisticated health checks.

Send queries from your program with POST method or GET /?query=...
`

const gunzipAsync = promisify(gunzip)
const inflateAsync = promisify(inflate)
const brotliDecompressAsync = promisify(brotliDecompress)

/** The interface over the embedded engine of `handle` (which must be embedded). */
export function createHttpInterface(handle: ClickHouseHandle, opts: HttpInterfaceOptions): HttpInterface {
  if (handle.mode !== 'embedded') throw new Error('the ClickHouse HTTP interface serves an embedded engine only; a server has its own')
  const log = opts.logger
  const slots = new Slots(opts.maxConcurrentQueries, MAX_WAITING_QUERIES)
  const service: Credentials = { user: opts.serviceUser ?? 'sluice', password: opts.servicePassword ?? '' }
  const running = new Set<Promise<void>>()
  let engine: Engine | undefined
  let closing = false

  const server: Server = createServer((req, res) => {
    const done = serve(req, res).catch((err: unknown) => {
      log?.warn({ err }, 'ClickHouse HTTP interface: request failed')
      if (!res.headersSent) sendError(res, fromEngineError(err), engine?.info.version ?? '', undefined)
      else res.destroy()
    })
    running.add(done)
    void done.finally(() => running.delete(done))
  })
  // Clients keep connections between queries; ClickHouse's own default keep-alive is 10 s.
  server.keepAliveTimeout = 10_000

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const method = req.method ?? 'GET'
    if (url.pathname === '/ping' || url.pathname === '/replicas_status') return text(res, 200, OK)
    if (url.pathname !== '/') return text(res, 404, NOT_FOUND.replace('{path}', url.pathname))
    const params = new Map(url.searchParams)
    if ((method === 'GET' || method === 'HEAD') && !params.has('query')) return text(res, 200, OK)
    if (method !== 'GET' && method !== 'POST') return text(res, 405, `HTTP method ${method} is not supported: use GET or POST\n`, { Allow: 'GET, POST' })
    const info = engine!.info
    const queryId = params.get('query_id') || header(req, 'x-clickhouse-query-id') || randomUUID()
    // Service credentials come in headers or the URL (as every client sends them), so an INSERT's
    // rows can be streamed to a file without being read first.
    if (isServiceUser(requestCredentials(req.headers, params), service)) return serveService(req, res, method, params, queryId)
    try {
      const body = method === 'POST' ? await readBody(req, MAX_BODY_BYTES) : Buffer.alloc(0)
      const boundary = method === 'POST' ? multipartBoundary(req.headers['content-type']) : undefined
      let query = params.get('query') ?? ''
      if (boundary !== undefined) {
        for (const [name, value] of parseMultipart(body, boundary)) params.set(name, value)
        query = params.get('query') ?? ''
      } else if (body.length > 0) {
        query = query === '' ? body.toString('utf8') : `${query}\n${body.toString('utf8')}`
      }
      const credentials = requestCredentials(req.headers, params)
      const keyed = opts.apiKeys?.(credentials)
      if (keyed !== undefined && 'refused' in keyed) throw refusal('AUTHENTICATION_FAILED', `${credentials.user}: Authentication failed: ${keyed.refused}`)
      if (keyed === undefined) authenticate(credentials, opts, req.socket.remoteAddress)
      const tenant = keyed === undefined ? opts.tenant : keyed.tenant
      if (params.get('decompress') === '1') throw refusal('NOT_IMPLEMENTED', 'compressed request bodies (decompress=1) are not supported: send the query uncompressed')
      const plan = planRequest(params, info.settings, {
        maxResultRows: opts.maxResultRows,
        maxExecutionTimeSeconds: opts.timeoutMs / 1000,
        maxMemoryBytes: opts.maxMemoryBytes,
      })
      const database = params.get('database') || header(req, 'x-clickhouse-database') || opts.database
      const defaultFormat = params.get('default_format') || header(req, 'x-clickhouse-format') || undefined
      const abort = new AbortController()
      res.on('close', () => abort.abort())
      const release = await slots.acquire(opts.timeoutMs, abort.signal)
      try {
        const started = Date.now()
        const answer = await engine!.run({ access: 'analyst', query, database, plan, defaultFormat, tenant })
        await send(req, res, params, plan.settings, answer, queryId, abort.signal)
        log?.debug({ queryId, ms: Date.now() - started, format: answer.format.name }, 'ClickHouse HTTP interface: query answered')
      } finally {
        release()
      }
    } catch (err) {
      const e = fromEngineError(err)
      if (e.code === 1002) log?.warn({ err, queryId }, 'ClickHouse HTTP interface: query failed')
      if (res.headersSent) res.destroy()
      else sendError(res, e, info.version, queryId)
    }
  }

  /** A request of the service user: any statement; an INSERT's rows from the body go through a file. */
  async function serveService(req: IncomingMessage, res: ServerResponse, method: string, params: Map<string, string>, queryId: string): Promise<void> {
    const info = engine!.info
    let file: string | undefined
    try {
      if (params.get('decompress') === '1') throw refusal('NOT_IMPLEMENTED', 'compressed request bodies (decompress=1) are not supported: use Content-Encoding (gzip, deflate, br, zstd, xz, lz4, bz2, snappy)')
      let query = params.get('query')
      let bodyRead = method !== 'POST'
      const boundary = bodyRead ? undefined : multipartBoundary(req.headers['content-type'])
      if (boundary !== undefined) {
        for (const [name, value] of parseMultipart(await readBody(req, SERVICE_MAX_QUERY_BYTES), boundary)) params.set(name, value)
        query = params.get('query') ?? ''
        bodyRead = true
      }
      const plan = planServiceRequest(params, info.settings)
      // As ClickHouse: a GET never writes (readonly = 2 still lets it change settings).
      if (method === 'GET') plan.settings.set('readonly', '2')
      // As a ClickHouse server's user without a default database: `default` unless the request names
      // one (before the first migration, the Sluice database does not exist yet).
      const database = params.get('database') || header(req, 'x-clickhouse-database') || 'default'
      let insert: InsertData | undefined
      if (query === undefined) {
        query = (await readBody(req, SERVICE_MAX_QUERY_BYTES)).toString('utf8')
        bodyRead = true
        insert = await engine!.insertStatement(query)
      } else if (!bodyRead) {
        // As ClickHouse reads it: the query parameter, a newline, then the body — an INSERT's rows,
        // or else the rest of the statement.
        insert = await engine!.insertStatement(`${query}\n`)
        if (insert === undefined) {
          const body = await readBody(req, SERVICE_MAX_QUERY_BYTES)
          bodyRead = true
          if (body.length > 0) query = `${query}\n${body.toString('utf8')}`
        }
      }
      if (insert !== undefined) {
        file = await temporaryInsertFile(handle, 'rows')
        const rows = await writeRows(req, file, insert.inline, bodyRead)
        const started = Date.now()
        const summary = rows.bytes === 0 ? NOTHING_WRITTEN : await engine!.insert({ insert, file, compression: rows.compression, database, plan })
        res.writeHead(200, {
          'Content-Type': 'text/plain; charset=UTF-8',
          'X-ClickHouse-Server-Display-Name': info.displayName,
          'X-ClickHouse-Query-Id': queryId,
          'X-ClickHouse-Timezone': plan.settings.get('session_timezone') || info.timezone,
          'X-ClickHouse-Summary': summaryHeader(summary, 0),
        })
        res.end()
        log?.debug({ queryId, ms: Date.now() - started, format: insert.format, rows: summary.written_rows, bytes: rows.bytes }, 'ClickHouse HTTP interface: service insert done')
        return
      }
      const defaultFormat = params.get('default_format') || header(req, 'x-clickhouse-format') || undefined
      const abort = new AbortController()
      res.on('close', () => abort.abort())
      const answer = await engine!.run({ access: 'service', query, database, plan, defaultFormat, tenant: undefined })
      await send(req, res, params, plan.settings, answer, queryId, abort.signal)
    } catch (err) {
      const e = fromEngineError(err)
      if (e.status >= 500) log?.warn({ err, queryId }, 'ClickHouse HTTP interface: service statement failed')
      if (res.headersSent) res.destroy()
      else sendError(res, e, info.version, queryId)
    } finally {
      if (file !== undefined) await rm(file, { force: true })
    }
  }

  /**
   * Writes an INSERT's rows to `file`: those inline in the statement, then (unless it was read as
   * the statement) the body as it arrives, still compressed — the engine decompresses it.
   */
  async function writeRows(req: IncomingMessage, file: string, inline: Buffer, bodyRead: boolean): Promise<{ bytes: number; compression: string | undefined }> {
    await writeFile(file, inline, { flag: 'wx' })
    if (bodyRead) return { bytes: inline.length, compression: undefined }
    const encoding = header(req, 'content-encoding')
    const compression = compressionOf(encoding)
    if (compression === null) throw refusal('UNSUPPORTED_MEDIA_TYPE', `request Content-Encoding ${encoding} is not supported (gzip, deflate, br, zstd, xz, lz4, bz2, snappy are)`)
    if (compression !== undefined && inline.length > 0) throw refusal('BAD_ARGUMENTS', 'rows both in the query and in a compressed body: send them in one place')
    let bytes = inline.length
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length
        if (bytes > SERVICE_MAX_INSERT_BYTES) done(refusal('QUERY_IS_TOO_LARGE', `INSERT body larger than ${SERVICE_MAX_INSERT_BYTES} bytes: send the rows in several INSERTs`))
        else done(null, chunk)
      },
    })
    await pipeline(req, limit, createWriteStream(file, { flags: 'a' }))
    return { bytes, compression }
  }

  /** Writes a successful answer: headers once its first piece exists, then every piece as the client takes it. */
  async function send(req: IncomingMessage, res: ServerResponse, params: Map<string, string>, settings: ReadonlyMap<string, string>, answer: QueryAnswer, queryId: string, signal: AbortSignal): Promise<void> {
    const info = engine!.info
    const tag = randomBytes(8).toString('hex')
    // The engine stops a query at max_execution_time; this stops an answer a client is too slow to take.
    const deadline = setTimeout(() => {
      res.destroy()
      void answer.close()
    }, opts.timeoutMs + DEADLINE_GRACE_MS)
    try {
      const first = await answer.chunks.next()
      const encoding = chooseEncoding(req, params, info)
      res.writeHead(200, {
        'Content-Type': answer.format.contentType,
        'X-ClickHouse-Server-Display-Name': info.displayName,
        'X-ClickHouse-Query-Id': queryId,
        'X-ClickHouse-Format': answer.format.name,
        'X-ClickHouse-Timezone': settings.get('session_timezone') || info.timezone,
        'X-ClickHouse-Exception-Tag': tag,
        'X-ClickHouse-Summary': summaryHeader(answer.summary, first.done ? 0 : first.value.length),
        ...(encoding.contentEncoding && { 'Content-Encoding': encoding.contentEncoding }),
        ...(params.get('add_http_cors_header') === '1' && { 'Access-Control-Allow-Origin': '*' }),
      })
      const body = bodyWriter(res, encoding)
      try {
        if (!first.done) await body.write(first.value)
        for (;;) {
          if (signal.aborted) return
          const next = await answer.chunks.next()
          if (next.done) break
          await body.write(next.value)
        }
        await body.end()
      } catch (err) {
        if (signal.aborted) return
        await body.fail(exceptionBlock(fromEngineError(err), info.version, tag))
      }
    } finally {
      clearTimeout(deadline)
      await answer.close()
    }
  }

  return {
    async listen() {
      engine ??= await Engine.open(handle.location)
      server.listen(opts.port, opts.host)
      await once(server, 'listening')
      const { address, port } = server.address() as AddressInfo
      return `http://${address.includes(':') ? `[${address}]` : address}:${port}`
    },
    async close() {
      if (closing) return
      closing = true
      const stopped = server.listening ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve()
      // Running answers end with their connections, and release their sessions as they unwind. A
      // query still computing its first rows cannot be interrupted (chdb has no cancel for it) and
      // stops at max_execution_time: shutdown does not wait for it (chdb defers closing a session
      // an operation still runs on, so nothing is torn down under it).
      server.closeAllConnections()
      await Promise.race([Promise.allSettled([...running]), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS).unref())])
      await stopped
    },
  }
}

// ---- requests ----------------------------------------------------------------------------------

const NOTHING_WRITTEN: QuerySummary = { read_rows: 0, read_bytes: 0, result_rows: 0, elapsed_ns: 0, written_rows: 0 }

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) throw refusal('QUERY_IS_TOO_LARGE', `request body larger than ${maxBytes} bytes`)
    parts.push(chunk)
  }
  const body = Buffer.concat(parts)
  const encoding = (header(req, 'content-encoding') ?? 'identity').toLowerCase()
  const limit = { maxOutputLength: maxBytes }
  try {
    if (encoding === 'identity' || body.length === 0) return body
    if (encoding === 'gzip') return await gunzipAsync(body, limit)
    if (encoding === 'deflate') return await inflateAsync(body, limit)
    if (encoding === 'br') return await brotliDecompressAsync(body, limit)
  } catch (err) {
    throw refusal('CANNOT_DECOMPRESS', `cannot decompress the ${encoding} request body: ${err instanceof Error ? err.message : String(err)}`)
  }
  throw refusal('NOT_IMPLEMENTED', `request Content-Encoding ${encoding} is not supported (gzip, deflate, br are)`)
}
