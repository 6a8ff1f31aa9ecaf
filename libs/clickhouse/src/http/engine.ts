// Runs one analyst query on the embedded engine, read-only and in a session of its own.
//
// chdb lets several connections ("sessions") share the process's one data directory, each with its
// own settings: the sink and the query API use a few through @clickhouse/client (client.ts,
// sessionPool), and every analyst query opens another, which is closed when the answer ends. Nothing an analyst sets can leak into
// the sink's statements (chdb's @clickhouse/client connection would turn per-query settings into
// SETs on the shared session), and nothing leaks between analysts.
//
// A session is prepared in one statement before the analyst's text is looked at:
//   USE <database>; SET <client settings>, <limits>, param_<name> = …, [additional_table_filters], readonly = 1
// After it, ClickHouse itself refuses writes, DDL, SYSTEM, setting changes (also through a query's
// own SETTINGS clause) and the table functions that reach files and servers. statement.ts adds what
// an embedded engine lets readonly = 1 do (INTO OUTFILE, KILL, file()). A tenant scope is
// ClickHouse's additional_table_filters on every table with a tenant column: applied to each read of
// those tables (in subqueries, joins, views, FINAL) and, being a setting, out of the analyst's reach.
//
// The service user (Sluice's other processes, whose ClickHouse this engine is) gets the same
// session of its own without readonly, limits or tenant scope, so it can run migrations, commands
// and queries; its INSERTs with rows in the request read them from a file (insert-statement.ts).
import type * as ChdbModule from 'chdb'
import { quoteIdentifier, quoteString } from '../sql-quote.js'
import { headerLength, outputMode } from './formats.js'
import type { OutputMode } from './formats.js'
import { ClickHouseHttpError, fromEngineError, insertDataError, refusal } from './errors.js'
import { fromInfileStatement, insertData } from './insert-statement.js'
import type { InsertData } from './insert-statement.js'
import type { RequestPlan } from './settings.js'
import { classify, inspectTokens, parseAst, parseTokens, serviceStatement } from './statement.js'
import type { AstNode, Statement, StatementKind, Token } from './statement.js'

type Chdb = typeof ChdbModule
type ChdbSession = InstanceType<Chdb['Session']>
type ChdbStream = ReturnType<ChdbSession['queryStream']>
type StreamChunk = ChdbStream extends AsyncIterable<infer C> ? C : never

export interface OutputFormat {
  /** ClickHouse's name of the format, as clients expect it in X-ClickHouse-Format. */
  name: string
  contentType: string
}

/** What the interface reports about the engine, read once. */
export interface EngineInfo {
  version: string
  timezone: string
  displayName: string
  /** The engine's enable_http_compression (chdb's default is 1). */
  httpCompressionDefault: string
  /** Every setting name the engine knows. */
  settings: ReadonlySet<string>
  /** Output formats by lower-case name (format names are case-insensitive). */
  formats: ReadonlyMap<string, OutputFormat>
}

/** analyst: read-only, limited, maybe tenant-scoped; service: Sluice's own processes, full access. */
export type Access = 'analyst' | 'service'

export interface QueryRequest {
  access: Access
  query: string
  database: string
  plan: RequestPlan
  /** default_format / X-ClickHouse-Format, used when the statement has no FORMAT clause. */
  defaultFormat: string | undefined
  /** Only this tenant's rows are readable (analysts only). */
  tenant: string | undefined
}

/** A service INSERT whose rows are in `file` (written by the caller, compressed as `compression` says). */
export interface InsertRequest {
  insert: InsertData
  file: string
  /** FROM INFILE's COMPRESSION, when the rows are compressed. */
  compression: string | undefined
  database: string
  plan: RequestPlan
}

export interface QuerySummary {
  read_rows: number
  read_bytes: number
  result_rows: number
  elapsed_ns: number
  written_rows?: number
}

/** A running answer: its first piece is already computed (errors before it are thrown by run()). */
export interface QueryAnswer {
  kind: StatementKind
  format: OutputFormat
  summary: QuerySummary
  /** The result's bytes, piece by piece; throws a ClickHouseHttpError when the query fails midway. */
  chunks: AsyncGenerator<Buffer, void, undefined>
  /** Stops the query if it still runs and releases its session; resolves once the engine let go of it. */
  close(): Promise<void>
}

const QUERY_SIZE_LIMIT_BYTES = 4 << 20


export class Engine {
  readonly #chdb: Chdb
  readonly #dataDir: string
  readonly info: EngineInfo

  private constructor(chdb: Chdb, dataDir: string, info: EngineInfo) {
    this.#chdb = chdb
    this.#dataDir = dataDir
    this.info = info
  }

  /** Loads chdb (already bound to `dataDir` by the process's ClickHouse client) and reads the engine's facts. */
  static async open(dataDir: string): Promise<Engine> {
    const chdb: Chdb = await import('chdb')
    const session = new chdb.Session(dataDir)
    try {
      const text = async (sql: string) => (await session.queryAsync(sql, { format: 'TSVRaw' })).text()
      const facts = await text("SELECT version(), timezone(), displayName(), getSetting('enable_http_compression')")
      const [version = '', timezone = 'UTC', displayName = '', compression = ''] = facts.trim().split('\t')
      const httpCompressionDefault = ['1', 'true'].includes(compression) ? '1' : '0'
      const settings = new Set((await text('SELECT name FROM system.settings')).split('\n').filter(Boolean))
      const formats = new Map<string, OutputFormat>()
      for (const line of (await text('SELECT name, content_type FROM system.formats WHERE is_output')).split('\n')) {
        const [name, contentType] = line.split('\t')
        if (name) formats.set(name.toLowerCase(), { name, contentType: contentType || 'text/plain; charset=UTF-8' })
      }
      return new Engine(chdb, dataDir, { version, timezone, displayName, httpCompressionDefault, settings, formats })
    } finally {
      session.close()
    }
  }

  /** Runs `request` in a session of its own; the session is released by the answer's close(), or here on failure. */
  async run(request: QueryRequest): Promise<QueryAnswer> {
    const session = new this.#chdb.Session(this.#dataDir)
    const started = process.hrtime.bigint()
    let answered = false
    try {
      await this.#prepare(session, request)
      const parsed = await this.#parse(session, request.query)
      const statement: Statement = request.access === 'service' ? serviceStatement(parsed.ast, parsed.format) : classify(parsed.ast, parsed.format, { tenantScoped: request.tenant !== undefined })
      const format = this.#format(statement.format ?? request.defaultFormat ?? 'TabSeparated')
      const mode: OutputMode = statement.kind === 'select' ? outputMode(format.name, request.plan.settings) : 'buffer'
      const elapsed = () => Number(process.hrtime.bigint() - started)
      const answer = mode === 'buffer' ? await this.#whole(session, request.query, format, statement.kind, elapsed) : await this.#stream(session, request.query, format, mode, elapsed)
      answered = true
      return answer
    } catch (err) {
      throw fromEngineError(err)
    } finally {
      if (!answered) session.close()
    }
  }

  /**
   * The INSERT of a service request whose rows travel with it (see insert-statement.ts), or
   * undefined for every other statement and for text the parser refuses (running it reports why).
   */
  async insertStatement(query: string): Promise<InsertData | undefined> {
    const session = new this.#chdb.Session(this.#dataDir)
    try {
      await session.queryAsync(`SET max_query_size = ${QUERY_SIZE_LIMIT_BYTES}`, { format: 'TSV' })
      const parsed = await this.#parse(session, query).catch(() => undefined)
      return parsed && insertData(Buffer.from(query), parsed.tokens, parsed.ast)
    } finally {
      session.close()
    }
  }

  /** Runs a service INSERT reading its rows from a file, in a session of its own; resolves once they are stored. */
  async insert(request: InsertRequest): Promise<QuerySummary> {
    const session = new this.#chdb.Session(this.#dataDir)
    const started = process.hrtime.bigint()
    try {
      await this.#prepare(session, { access: 'service', database: request.database, plan: request.plan, tenant: undefined })
      const sql = fromInfileStatement(request.insert, request.file, request.compression, { string: quoteString, identifier: quoteIdentifier })
      const result = await session.queryAsync(sql, { format: 'TSV' }).catch((err: unknown) => {
        throw insertDataError(err)
      })
      // Every row FROM INFILE read went into the INSERT (a row it could not read fails the whole statement).
      return { read_rows: 0, read_bytes: result.bytesRead, result_rows: 0, elapsed_ns: Number(process.hrtime.bigint() - started), written_rows: result.rowsRead }
    } catch (err) {
      throw fromEngineError(err)
    } finally {
      session.close()
    }
  }

  #format(name: string): OutputFormat {
    const format = this.info.formats.get(name.toLowerCase())
    if (!format) throw refusal('UNKNOWN_FORMAT', `Unknown output format ${name}`)
    return format
  }

  async #prepare(session: ChdbSession, request: Pick<QueryRequest, 'access' | 'database' | 'plan' | 'tenant'>): Promise<void> {
    const sets: string[] = [`max_query_size = ${QUERY_SIZE_LIMIT_BYTES}`]
    for (const [name, value] of request.plan.settings) sets.push(`${name} = ${quoteString(value)}`)
    for (const [name, value] of request.plan.queryParams) sets.push(`param_${name} = ${quoteString(value)}`)
    if (request.access === 'analyst') {
      if (request.tenant !== undefined) sets.push(`additional_table_filters = ${await tenantFilters(session, request.tenant)}`)
      sets.push('readonly = 1')
    }
    await session.queryAsync(`USE ${quoteIdentifier(request.database)}; SET ${sets.join(', ')}`, { format: 'TSV' })
  }

  async #parse(session: ChdbSession, query: string): Promise<{ tokens: Token[]; ast: AstNode; format: string | undefined }> {
    if (query.trim() === '') throw refusal('SYNTAX_ERROR', 'Empty query')
    // The engine takes SQL as a C string: text after a NUL byte would not be the text checked here.
    if (query.includes('\0')) throw refusal('SYNTAX_ERROR', 'Syntax error: the query holds a NUL byte')
    // Lexer tokens and a parse that executes nothing (the query is a string literal here): a
    // syntax error is reported as ClickHouse reports it for the analyst's own text.
    const literal = quoteString(query)
    let answer: string
    try {
      answer = (await session.queryAsync(`SELECT tokenizeQuery(${literal}), length(formatQuerySingleLine(${literal}))`, { format: 'JSONCompactEachRow' })).text()
    } catch (err) {
      throw withoutParserScope(fromEngineError(err))
    }
    const tokens = parseTokens(answer)
    const { format } = inspectTokens(Buffer.from(query), tokens)
    let dump: string
    try {
      dump = (await session.queryAsync(`${EXPLAIN_PREFIX}${query}`, { format: 'TSVRaw' })).text()
    } catch (err) {
      throw withoutExplainPrefix(fromEngineError(err))
    }
    return { tokens, ast: parseAst(dump), format }
  }

  async #whole(session: ChdbSession, query: string, format: OutputFormat, kind: StatementKind, elapsed: () => number): Promise<QueryAnswer> {
    const result = await session.queryAsync(query, { format: format.name })
    const bytes = Buffer.from(result.bytes())
    session.close()
    async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
      if (bytes.length > 0) yield bytes
    }
    return {
      kind,
      format,
      summary: { read_rows: result.rowsRead, read_bytes: result.bytesRead, result_rows: 0, elapsed_ns: elapsed() },
      chunks: chunks(),
      close: async () => undefined,
    }
  }

  async #stream(session: ChdbSession, query: string, format: OutputFormat, mode: OutputMode, elapsed: () => number): Promise<QueryAnswer> {
    const stream = session.queryStream(query, { format: format.name })
    const cursor = stream[Symbol.asyncIterator]()
    // The fetch running on a libuv thread, if any: close() waits for it, so a query counts against
    // the interface's concurrency until the engine really stopped working on it.
    let inFlight: Promise<IteratorResult<StreamChunk>> | undefined
    const next = async (): Promise<IteratorResult<StreamChunk>> => {
      inFlight = cursor.next()
      try {
        return await inFlight
      } finally {
        inFlight = undefined
      }
    }
    let closed: Promise<void> | undefined
    const close = () =>
      (closed ??= (async () => {
        stream.cancel()
        if (inFlight) await inFlight.catch(() => undefined)
        await cursor.return?.(undefined).catch(() => undefined)
        session.close()
      })())

    let first: IteratorResult<StreamChunk>
    try {
      first = await next()
    } catch (err) {
      await close()
      throw err
    }
    let header: Buffer | undefined
    const firstBytes = first.done ? undefined : Buffer.from(first.value.raw())
    if (firstBytes && mode === 'header') header = firstBytes.subarray(0, headerLength(format.name, firstBytes))
    async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
      try {
        if (!firstBytes) return
        yield firstBytes
        for (;;) {
          let r: IteratorResult<StreamChunk>
          try {
            r = await next()
          } catch (err) {
            throw fromEngineError(err)
          }
          if (r.done) return
          let bytes = Buffer.from(r.value.raw())
          if (header) {
            if (!bytes.subarray(0, header.length).equals(header)) throw new ClickHouseHttpError(1002, 'UNKNOWN_EXCEPTION', `a ${format.name} chunk did not repeat the result's header`)
            bytes = bytes.subarray(header.length)
          }
          if (bytes.length > 0) yield bytes
        }
      } finally {
        await close()
      }
    }
    return { kind: 'select', format, summary: { read_rows: 0, read_bytes: 0, result_rows: first.done ? 0 : first.value.numRows, elapsed_ns: elapsed() }, chunks: chunks(), close }
  }
}

const EXPLAIN_PREFIX = 'EXPLAIN AST '

/** formatQuerySingleLine()'s syntax error names the call it happened in; the analyst wrote no such call. */
function withoutParserScope(err: ClickHouseHttpError): ClickHouseHttpError {
  if (err.code !== 62 || err.engineText === undefined) return err
  const cut = (text: string) => {
    const at = text.lastIndexOf(': In scope SELECT tokenizeQuery(')
    return at < 0 ? text : `${text.slice(0, at)}. (SYNTAX_ERROR)`
  }
  return new ClickHouseHttpError(err.code, err.type, cut(err.message).replace(/\. \(SYNTAX_ERROR\)$/, ''), { cause: err.cause, engineText: cut(err.engineText) })
}

/** A parse error of `EXPLAIN AST <query>` reports positions in the analyst's own text. */
function withoutExplainPrefix(err: ClickHouseHttpError): ClickHouseHttpError {
  if (err.code !== 62 || err.engineText === undefined) return err
  const shift = (text: string) => text.replace(/position (\d+)/g, (_m, n: string) => `position ${Math.max(0, Number(n) - EXPLAIN_PREFIX.length)}`)
  return new ClickHouseHttpError(err.code, err.type, shift(err.message), { cause: err.cause, engineText: shift(err.engineText) })
}

/**
 * additional_table_filters for a tenant: every table (or view) with a `tenant` or `Tenant` column,
 * in any user database, shows only that tenant's rows; the system tables listing running queries
 * show none (their text holds other tenants' values).
 */
async function tenantFilters(session: ChdbSession, tenant: string): Promise<string> {
  const text = (
    await session.queryAsync(
      "SELECT database, table, name FROM system.columns WHERE name IN ('tenant', 'Tenant') AND database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')",
      { format: 'TSVRaw' },
    )
  ).text()
  const filters: string[] = []
  for (const line of text.split('\n').filter(Boolean)) {
    const [database = '', table = '', column = ''] = line.split('\t')
    // The filter's key is `database.table` as text: a name that needs quoting could not be keyed
    // unambiguously, so such a table makes the whole scope fail closed.
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(database) || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
      throw refusal('ACCESS_DENIED', `table ${database}.${table} holds a tenant column under a name the tenant scope cannot key`)
    }
    filters.push(`${quoteString(`${database}.${table}`)}: ${quoteString(`${quoteIdentifier(column)} = ${quoteString(tenant)}`)}`)
  }
  for (const table of ['system.processes', 'system.query_log', 'system.query_thread_log', 'system.query_views_log', 'system.processors_profile_log', 'system.text_log']) {
    filters.push(`${quoteString(table)}: '0'`)
  }
  return `{${filters.join(', ')}}`
}
