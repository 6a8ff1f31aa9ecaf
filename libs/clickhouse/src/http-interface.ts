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
// Answers stream: rows go out as the engine produces them, one chunk at a time, waiting for the
// client to take each before the next is fetched. A failure after the first bytes (a limit hit
// midway) ends the answer with ClickHouse's exception block (X-ClickHouse-Exception-Tag, as servers
// since 25.11 send it, which clickhouse-connect and @clickhouse/client parse) and then drops the
// connection without completing the chunked body, so no client mistakes a cut result for a whole one.
import { randomBytes, randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { brotliDecompress, gunzip, inflate } from 'node:zlib'
import type { ClickHouseHandle } from './client.js'
import { bodyWriter, chooseEncoding, exceptionBlock, header, sendError, summaryHeader, text } from './http/answer.js'
import { authenticate, requestCredentials } from './http/auth.js'
import type { Credentials } from './http/auth.js'
import { Engine } from './http/engine.js'
import type { QueryAnswer } from './http/engine.js'
import { fromEngineError, refusal } from './http/errors.js'
import { multipartBoundary, parseMultipart } from './http/multipart.js'
import { planRequest } from './http/settings.js'
import { Slots } from './http/slots.js'

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
  logger?: HttpInterfaceLogger
}

export interface HttpInterface {
  /** Starts listening; resolves with the address, e.g. http://127.0.0.1:8123. */
  listen(): Promise<string>
  /** Stops accepting, ends running answers, and waits (briefly) for them to release their engine sessions. */
  close(): Promise<void>
}

const MAX_BODY_BYTES = 1 << 20
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
    try {
      const body = method === 'POST' ? await readBody(req) : Buffer.alloc(0)
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
        const answer = await engine!.run({ query, database, plan, defaultFormat, tenant })
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
        'X-ClickHouse-Summary': summaryHeader(answer, first.done ? 0 : first.value.length),
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

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY_BYTES) throw refusal('QUERY_IS_TOO_LARGE', `request body larger than ${MAX_BODY_BYTES} bytes`)
    parts.push(chunk)
  }
  const body = Buffer.concat(parts)
  const encoding = (header(req, 'content-encoding') ?? 'identity').toLowerCase()
  const limit = { maxOutputLength: MAX_BODY_BYTES }
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
