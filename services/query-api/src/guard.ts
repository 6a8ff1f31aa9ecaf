// Guard rails every query-api statement runs under: a time limit, optional limits on rows and
// bytes read, and cancellation when the client goes away. ClickHouse's refusals come back as
// messages naming the limit and its setting, for a 4xx.
import { SluiceError } from '@sluice/core'
import type { FastifyReply } from 'fastify'
import type { ClickHouseClient } from '@sluice/clickhouse'
import type { Histogram } from 'prom-client'

export interface GuardOptions {
  timeoutMs: number
  maxRowsRead: number
  maxBytesRead: number
}

/**
 * The statement's own SETTINGS clause: embedded ClickHouse applies `clickhouse_settings` with a
 * session-wide SET, which would outlive the query and bind every other statement of the process
 * (the sink's inserts too).
 */
export function guardSettings(o: GuardOptions): string {
  return `SETTINGS ${[
    `max_execution_time = ${Math.max(1, Math.ceil(o.timeoutMs / 1000))}`,
    // Branches of if/multiIf are evaluated only for the rows that take them (the Loki compiler
    // relies on it to guard functions that throw on bad values).
    `short_circuit_function_evaluation = 'force_enable'`,
    ...(o.maxRowsRead > 0 ? [`max_rows_to_read = ${o.maxRowsRead}`] : []),
    ...(o.maxBytesRead > 0 ? [`max_bytes_to_read = ${o.maxBytesRead}`] : []),
  ].join(', ')}`
}

/** Whether ClickHouse refused a statement with the error `name` (its type, or its code in the message). */
function refusedWith(err: unknown, name: string): boolean {
  const type = (err as { type?: string }).type ?? ''
  return type === name || (err instanceof Error ? err.message : String(err)).includes(`(${name})`)
}

/** What the client should hear when ClickHouse refused a statement for one of the limits; else undefined. */
export function limitMessage(err: unknown, o: GuardOptions): string | undefined {
  const message = err instanceof Error ? err.message : String(err)
  const has = (name: string) => refusedWith(err, name)
  if (has('TIMEOUT_EXCEEDED')) return `query timed out after ${o.timeoutMs} ms (QUERY_TIMEOUT_MS); narrow the time range or the selection`
  if (has('TOO_MANY_ROWS') || has('TOO_MANY_ROWS_OR_BYTES')) return `the query would read more than ${o.maxRowsRead} rows (QUERY_MAX_ROWS_READ); narrow the time range or the selection`
  if (has('TOO_MANY_BYTES')) return `the query would read more than ${o.maxBytesRead} bytes (QUERY_MAX_BYTES_READ); narrow the time range or the selection`
  if (has('CANNOT_COMPILE_REGEXP')) {
    // The parser refuses what Go's regexp refuses; this is one ClickHouse's RE2 refuses besides.
    // Its pattern and RE2's reason, without the advice on SQL string literals and the columns.
    const re2 = /cannot compile re2: ([^]*?), error: ([^]*?)\. Look at /.exec(message)
    return re2 ? `invalid regular expression ${JSON.stringify(re2[1])}: ${re2[2]}` : 'invalid regular expression'
  }
  // A statement that refuses rows it cannot answer as Loki does (a template's fromJson, template.ts)
  // raises its reason with throwIf: that reason, without the expression ClickHouse appends.
  if (has('FUNCTION_THROW_IF_VALUE_IS_NON_ZERO')) {
    const reason = /unsupported LogQL: [^:']*/.exec(message)
    if (reason) return reason[0].trim()
  }
  // Each stage that reads a line_format's output (a parser most often) adds its expression over
  // the one before: dozens of them, and ClickHouse refuses to read or plan the statement.
  if (has('TOO_BIG_AST') || message.includes('Query tree is too big') || message.includes('Max query size exceeded')) return `the query is too big for ClickHouse to plan (${message.split('\n')[0]!.replace(/\.\s*$/, '')}); use fewer stages that read a line_format's output`
  return undefined
}

export interface Statement {
  query: string
  params: Record<string, unknown>
  /** Settings of this statement alone, added to the guard rails' (`name = value`). */
  settings?: readonly string[]
  /** Rows this statement may read at most, below the guard's QUERY_MAX_ROWS_READ (never above it). */
  maxRowsToRead?: number
}

export type Run = <T>(reply: FastifyReply, endpoint: string, st: Statement) => Promise<T[]>

/**
 * Runs a statement whose line search (a LIKE on Body) the text index answers by scanning its
 * dictionary, ~45 ms over a day of 10 M rows whatever the range asked for. Where the primary key
 * leaves at most `minRows` rows, reading them costs less: the statement runs first without the
 * scan (runUnscanned); then, where more rows are left, as written, where the scan pays for itself
 * on a rare term (or the guard's limit refuses it for itself). `minRows` 0: always as written.
 */
export async function runTextSearch<T>(run: Run, reply: FastifyReply, endpoint: string, st: Statement, minRows: number): Promise<T[]> {
  if (minRows === 0) return run<T>(reply, endpoint, st)
  return (await runUnscanned<T>(run, reply, endpoint, st, minRows)) ?? run<T>(reply, endpoint, st)
}

/**
 * Runs a line search without the text index's dictionary scan, under max_rows_to_read `minRows`
 * (and the guard's lower limit, when it has one), which ClickHouse checks against what the
 * primary key leaves before reading anything: undefined where it leaves more.
 */
export async function runUnscanned<T>(run: Run, reply: FastifyReply, endpoint: string, st: Statement, minRows: number): Promise<T[] | undefined> {
  const settings = [...(st.settings ?? []), 'use_text_index_like_evaluation_by_dictionary_scan = 0', "read_overflow_mode = 'throw'"]
  try {
    return await run<T>(reply, endpoint, { ...st, settings, maxRowsToRead: minRows })
  } catch (err) {
    if (!refusedWith(err, 'TOO_MANY_ROWS')) throw err
    return undefined
  }
}

/** The newest slice of a long line search read first (searchNewestFirst): a quarter of an hour. */
export const FIRST_SLICE_NS = 15n * 60n * 1_000_000_000n
/** Slices searchNewestFirst reads without the scan before it reads the rest of the range with it. */
const MAX_SLICES = 3

/**
 * The first `limit` lines (newest for `backward`, else oldest) of a line search over [fromNs, toNs),
 * for a term that may be on many lines. Over more rows than `minRows`, the text index's dictionary
 * scan costs the same whatever the term (runTextSearch), while a term on many lines fills the page
 * from the newest minutes: as Loki's query frontend reads a long range an interval at a time,
 * newest first, and stops once the limit is reached, slices at the end (or start) of the range
 * are read first without the scan. The first is FIRST_SLICE_NS; each next one as long as the lines
 * found so far say the rest of the page needs (a quarter more), while that is at most half of
 * what is left, up to MAX_SLICES; then the rest of the range is read with the scan. A rare term
 * pays for the first slice (~25 ms over the bench's 10 M rows a day, against ~100 ms less for a
 * common one), so callers leave it out where the term looks rare. `read(from, to, limit, scan)`
 * answers a slice; without `scan`, undefined where the primary key leaves more than `minRows`
 * rows in it (runUnscanned).
 */
export async function searchNewestFirst<L>(
  range: { fromNs: bigint; toNs: bigint; limit: number; backward: boolean },
  read: (fromNs: bigint, toNs: bigint, limit: number, scan: boolean) => Promise<L[] | undefined>,
): Promise<L[]> {
  const { fromNs, toNs, limit, backward } = range
  const whole = await read(fromNs, toNs, limit, false)
  if (whole) return whole
  const found: L[] = []
  // Read so far: [edge, toNs) backward, [fromNs, edge) forward.
  let edge = backward ? toNs : fromNs
  let width = FIRST_SLICE_NS
  for (let n = 0; n < MAX_SLICES; n++) {
    const left = backward ? edge - fromNs : toNs - edge
    if (width * 2n > left) break
    const next = backward ? edge - width : edge + width
    const got = backward ? await read(next, edge, limit - found.length, false) : await read(edge, next, limit - found.length, false)
    if (!got) break
    found.push(...got)
    edge = next
    if (found.length >= limit) return found
    if (found.length === 0) break
    // Lines per nanosecond so far, and the span the rest of the page needs at that rate.
    const readNs = backward ? toNs - edge : edge - fromNs
    width = (readNs * BigInt(limit - found.length) * 5n) / (BigInt(found.length) * 4n) + 1n
  }
  const rest = backward ? await read(fromNs, edge, limit - found.length, true) : await read(edge, toNs, limit - found.length, true)
  return [...found, ...(rest ?? [])]
}

/** Runs statements under the guard rails, timed by `seconds{endpoint}`. */
export function guardedRunner(client: Pick<ClickHouseClient, 'query'>, o: GuardOptions, seconds: Histogram<'endpoint'>): Run {
  const settings = guardSettings(o)
  return async <T>(reply: FastifyReply, endpoint: string, st: Statement): Promise<T[]> => {
    // A statement's own row limit can only be lower than the guard's: it comes after, and the last wins.
    const cap = st.maxRowsToRead === undefined ? undefined : o.maxRowsRead > 0 ? Math.min(o.maxRowsRead, st.maxRowsToRead) : st.maxRowsToRead
    const abort = new AbortController()
    const onClose = () => {
      if (!reply.raw.writableFinished) abort.abort()
    }
    reply.raw.once('close', onClose)
    const end = seconds.startTimer({ endpoint })
    try {
      // One JSON document, parsed at once: much cheaper than a row object per line of JSONEachRow.
      const mine = [...(st.settings ?? []), ...(cap === undefined ? [] : [`max_rows_to_read = ${cap}`])]
      const own = mine.length ? `, ${mine.join(', ')}` : ''
      const rs = await client.query({ query: `${st.query}\n${settings}${own}`, query_params: st.params, format: 'JSON', abort_signal: abort.signal })
      return (await rs.json<T>()).data
    } catch (err) {
      // Not a failure of the query API: Grafana cancels the queries of a panel it refreshes.
      if (abort.signal.aborted) throw new SluiceError('CLIENT_CLOSED', 'the client closed the request before its answer', { cause: err })
      throw err
    } finally {
      end()
      reply.raw.off('close', onClose)
    }
  }
}
