// Stored records for people and scripts: a page of them, all of them as a download, and counts.
//
//   GET /v1/logs?<selection>&limit=&cursor=   → { logs: [...newest first], next_cursor }
//   GET /v1/logs/export?<selection>&format=ndjson|csv&limit=   streamed, newest first
//   GET /v1/stats?service=&from=&to=&tenant=  → counts by level and service
// <selection> is selection.ts: service, level, q, from, to, host, category, pattern_id, user_id,
// session_id, trace_id, error_code, attr.<key>, resource.<key>. A record re-delivered and not
// yet merged by ClickHouse is answered once: a page is read in the table's key order without
// LIMIT 1 BY id (which stands between the sort and the LIMIT, so ClickHouse would read every
// column of every row in the range rather than of the page's rows only), and a page holding a
// copy (its copies sort next to each other) is read again with it.
// The tenant (every tenant when the request names none and its key does not decide), the
// tenant's limits on concurrency and time range, and QUERY_MAX_RANGE_HOURS over every tenant are
// tenancy.ts's: a range longer than a limit is refused, one without `from` reads the last
// QUERY_MAX_RANGE_HOURS (or the tenant's shorter limit) before `to`.
import { Readable } from 'node:stream'
import { MAX_TIMESTAMP_NS } from '@sluice/core'
import type { ZodTypeProvider } from '@sluice/observability'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { runTextSearch, runUnscanned, searchNewestFirst } from './guard.js'
import type { Run, Statement } from './guard.js'
import { CSV_COLUMNS, RECORD_COLUMNS, csvLine, decodeCursor, encodeCursor, holdsCopy, toRecord } from './records.js'
import type { LogRecord, StoredRow } from './records.js'
import { looksRare } from './loki/sql.js'
import { Params, scopeFields, selectionClauses, selectionFields, where, withAttributes } from './selection.js'
import type { Selection } from './selection.js'
import type { QueryAccess } from './tenancy.js'

export interface LogsOptions {
  database: string
  maxLimit: number
  exportMaxRows: number
  /** Rows per statement of an export: bounded memory whatever the export's size. */
  exportChunkRows: number
  /** A `q` search over at most this many rows reads them without the text index's dictionary scan (guard.ts, runTextSearch). */
  textScanMinRows: number
  /** Longest `from`–`to` of a read (QUERY_MAX_RANGE_HOURS); an open range is cut to it. */
  maxRangeHours: number
}

const cursor = z.string().transform((v, ctx) => {
  const c = decodeCursor(v)
  if (!c) {
    ctx.addIssue({ code: 'custom', message: 'not a cursor this API returned (next_cursor)' })
    return z.NEVER
  }
  return c
})

export const logsQuerySchema = (maxLimit: number) =>
  withAttributes({
    ...selectionFields,
    limit: z.coerce.number().int().min(1).max(maxLimit).default(100),
    cursor: cursor.optional(),
  })

export const exportQuerySchema = (maxRows: number) =>
  withAttributes({
    ...selectionFields,
    format: z.enum(['ndjson', 'csv']).default('ndjson'),
    limit: z.coerce.number().int().min(1).max(maxRows).default(maxRows),
  })

export const statsQuerySchema = z.strictObject(scopeFields)

export type After = { tsNs: string; id: string } | undefined

const minNs = (a: bigint, b: bigint | undefined) => (b !== undefined && b < a ? b : a)

export function registerLogs(app: FastifyInstance, opts: LogsOptions, run: Run, access: QueryAccess): void {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const db = opts.database
  const table = `${db}.logs`

  /** The newest `limit` records of the selection older than `after`. */
  const page = async (reply: FastifyReply, endpoint: string, s: Selection, after: After, limit: number): Promise<StoredRow[]> => {
    /** The page of `sel`, read by `read` (undefined: it refused the statement). */
    const pageOf = async (sel: Selection, n: number, read: (st: Statement) => Promise<StoredRow[] | undefined>): Promise<StoredRow[] | undefined> => {
      const b = new Params()
      const clauses = selectionClauses(db, sel, b)
      if (after) {
        const ts = b.bind(after.tsNs, 'Int64')
        // The key columns bound the read; the tuple decides between records of one timestamp.
        clauses.push(`TimestampTime <= toDateTime(intDiv(${ts}, 1000000000))`, `(Timestamp, id) < (fromUnixTimestamp64Nano(${ts}), ${b.bind(after.id)})`)
      }
      // TimestampTime first: the key's order (TimestampTime is the second of Timestamp), so ClickHouse
      // reads in order and stops at the page.
      const statement = (byId: boolean) => ({
        query: `SELECT ${RECORD_COLUMNS} FROM ${table} ${where(clauses)} ORDER BY TimestampTime DESC, Timestamp DESC, id DESC ${byId ? 'LIMIT 1 BY id ' : ''}LIMIT ${b.bind(n, 'UInt32')}`,
        params: b.values,
      })
      const rows = await read(statement(false))
      return rows && holdsCopy(rows) ? read(statement(true)) : rows
    }
    const as = (st: Statement) => run<StoredRow>(reply, endpoint, st)
    if (!s.q) return (await pageOf(s, limit, as))!
    // A search for a word over many rows: the newest slice first (guard.ts, searchNewestFirst).
    // Exclusive of after's next nanosecond, no later than Int64 allows (a cursor at the last one).
    const toNs = after ? minNs(minNs(BigInt(after.tsNs) + 1n, MAX_TIMESTAMP_NS), s.to) : s.to
    if (looksRare(s.q) || opts.textScanMinRows === 0 || toNs === undefined) return (await pageOf(s, limit, (st) => runTextSearch<StoredRow>(run, reply, endpoint, st, opts.textScanMinRows)))!
    return searchNewestFirst({ fromNs: s.from ?? 0n, toNs, limit, backward: true }, (fromNs, to, n, scan) =>
      pageOf({ ...s, from: fromNs, to }, n, scan ? as : (st) => runUnscanned<StoredRow>(run, reply, endpoint, st, opts.textScanMinRows)),
    )
  }
  /** The request's selection: its tenant (tenancy.ts) and its time range under the range limits. */
  const selection = <P extends Selection>(req: FastifyRequest, reply: FastifyReply, p: P): P => {
    const read = access.open(req, reply, undefined, p.tenant)
    return { ...p, tenant: read.tenant, ...access.range(read, opts.maxRangeHours, p.from, p.to) }
  }
  const next = (rows: StoredRow[]): After => {
    const last = rows.at(-1)
    return last && { tsNs: last.ts, id: last.id }
  }

  const tags = ['logs']
  api.get('/v1/logs', { schema: { tags, summary: 'Stored records of a selection, newest first, a page at a time', querystring: logsQuerySchema(opts.maxLimit) } }, async (req, reply) => {
    const p = req.query
    const rows = await page(reply, 'logs', selection(req, reply, p), p.cursor, p.limit)
    const after = rows.length === p.limit ? next(rows) : undefined
    return { logs: rows.map(toRecord), next_cursor: after ? encodeCursor(after.tsNs, after.id) : null }
  })

  api.get('/v1/logs/export', { schema: { tags, summary: 'Every record of a selection, streamed as NDJSON or CSV', produces: ['application/x-ndjson', 'text/csv'], querystring: exportQuerySchema(opts.exportMaxRows) } }, async (req, reply) => {
    const p = req.query
    const s: Selection = selection(req, reply, p)
    // The first chunk is read before the answer starts, so a refused query is still a clean 4xx.
    const first = await page(reply, 'export', s, undefined, Math.min(opts.exportChunkRows, p.limit))
    const line = p.format === 'csv' ? (r: LogRecord) => csvLine(CSV_COLUMNS.map((c) => r[c])) : (r: LogRecord) => `${JSON.stringify(r)}\n`
    const chunks = exportChunks(first, { chunk: opts.exportChunkRows, limit: p.limit, floor: s.from ?? 0n }, (from, after, want) => page(reply, 'export', { ...s, from }, after, want))
    async function* body(): AsyncGenerator<string> {
      if (p.format === 'csv') yield csvLine(CSV_COLUMNS)
      let rows = first
      while (rows.length > 0) {
        // The next chunk is read while this one is written out.
        const coming = chunks.next()
        coming.catch(() => undefined) // a client gone: the stream ends, nothing reads this chunk
        yield rows.map((r) => line(toRecord(r))).join('')
        rows = await coming
      }
    }
    const ext = p.format === 'csv' ? 'csv' : 'ndjson'
    return reply
      .type(p.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
      .header('content-disposition', `attachment; filename="sluice-logs.${ext}"`)
      .send(Readable.from(body()))
  })

  api.get('/v1/stats', { schema: { tags, summary: 'Records by level and service', querystring: statsQuerySchema } }, async (req, reply) => {
    const p = req.query
    const b = new Params()
    const rows = await run<{ service: string; level: string; count: string }>(reply, 'stats', {
      query: `SELECT ServiceName AS service, SeverityText AS level, count() AS count FROM ${table} FINAL
              ${where(selectionClauses(db, selection(req, reply, p), b))}
              GROUP BY service, level ORDER BY service, level`,
      params: b.values,
    })
    const byLevel: Record<string, number> = {}
    const byService: Record<string, { total: number; byLevel: Record<string, number> }> = {}
    let total = 0
    for (const r of rows) {
      const n = Number(r.count)
      total += n
      byLevel[r.level] = (byLevel[r.level] ?? 0) + n
      const svc = (byService[r.service] ??= { total: 0, byLevel: {} })
      svc.total += n
      svc.byLevel[r.level] = n
    }
    return { total, byLevel, byService }
  })
}

/**
 * The chunks of an export after its first one, newest first, each at most `chunk` rows (`next()`
 * gives an empty one at the end). `read(from, after, want)` reads the newest `want` rows at or
 * after `from` and below `after`. Each read covers a window of time below the last row sent,
 * about twice the span the last chunk took, rather than everything older: without a service in
 * the selection the ORDER BY is not the table's, and every chunk would sort the rest of the range
 * again (an export of N rows would read N²/chunk). A window that holds fewer rows than a chunk
 * was read whole: the next one starts below it, wider, down to `floor`. `first` is the newest
 * chunk of the whole range, read before the answer started.
 */
export function exportChunks<R extends { ts: string; id: string }>(
  first: readonly R[],
  o: { chunk: number; limit: number; floor: bigint },
  read: (from: bigint, after: NonNullable<After>, want: number) => Promise<R[]>,
): { next(): Promise<R[]> } {
  const spanOf = (rows: readonly R[]) => BigInt(rows[0]!.ts) - BigInt(rows.at(-1)!.ts)
  const lastOf = (rows: readonly R[]) => ({ tsNs: rows.at(-1)!.ts, id: rows.at(-1)!.id })
  let sent = first.length
  let done = first.length < Math.min(o.chunk, o.limit)
  let after = first.length > 0 ? lastOf(first) : undefined
  let width = first.length > 0 ? spanOf(first) * 2n + 1n : 0n
  return {
    async next(): Promise<R[]> {
      while (!done && after) {
        const want = Math.min(o.chunk, o.limit - sent)
        if (want <= 0) break
        const top = BigInt(after.tsNs)
        const from = top - width > o.floor ? top - width : o.floor
        const rows = await read(from, after, want)
        sent += rows.length
        if (rows.length === want) {
          after = lastOf(rows)
          width = spanOf(rows) * 2n + 1n
          return rows
        }
        // [from, after) is read whole. Rows at `from` itself are in it: the cursor (from, '') is
        // above none of them.
        if (from <= o.floor) done = true
        else {
          after = { tsNs: from.toString(), id: '' }
          const widened = rows.length === 0 ? width * 4n : (width * BigInt(want) * 5n) / (BigInt(rows.length) * 4n)
          width = widened > width * 2n ? widened : width * 2n
        }
        if (rows.length > 0) return rows
      }
      done = true
      return []
    },
  }
}
