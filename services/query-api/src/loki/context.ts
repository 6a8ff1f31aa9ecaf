// What the Loki API's route modules share: the guard-rail settings, and the request helpers
// routes.ts builds once (parameters, tenant scope, running a statement under the guard rails).
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { LogExpr } from '../logql/ast.js'
import type { LogLine, LogStatement, Scope, Steps } from './compile.js'
import type { Query } from './params.js'
import type { QueryAccess } from '../tenancy.js'

export interface LokiOptions {
  database: string
  timeoutMs: number
  maxRangeHours: number
  maxSeries: number
  maxLines: number
  maxRowsRead: number
  maxBytesRead: number
  /** Rows a line filter reads without the text index's dictionary scan (routes.ts, rowsOf and logLines; 0: always with it). */
  textScanMinRows: number
  tailMaxConnections: number
  tailPollMs: number
}

/** The Loki HTTP API version whose shapes Sluice answers with (status/buildinfo). */
export const LOKI_API_VERSION = '3.4.0'

export const HOUR_NS = 3_600_000_000_000n

/** Loki answers its read endpoints for GET and for POST (a form body), as Grafana may send either. */
export const READ_METHODS: ('GET' | 'POST')[] = ['GET', 'POST']

export interface LokiContext {
  opts: LokiOptions
  /** Query string and form body together. */
  params(req: FastifyRequest): Query
  /** The request's tenant (tenancy.ts), the read admitted under the tenant's limits; once per request. */
  scopeOf(req: FastifyRequest, reply: FastifyReply): Scope
  /** Runs a statement under the guard rails; cancelled when the client goes away. */
  run<T>(reply: FastifyReply, endpoint: string, st: LogStatement): Promise<T[]>
  /** The first `limit` lines of a log query over [fromNs, toNs) (routes.ts, logLines). */
  logLines(reply: FastifyReply, endpoint: string, scope: Scope, e: LogExpr, range: { fromNs: bigint; toNs: bigint; limit: number; direction: 'backward' | 'forward' }): Promise<LogLine[]>
  /** Builds a statement once it is known which of its labels are attribute keys. */
  prepare<S extends LogStatement>(reply: FastifyReply, scope: Scope, build: (scope: Scope) => S): Promise<S>
  /** The `name` parameter as a log selector (400 when absent or a metric query). */
  selector(q: Query, name?: string): LogExpr
  /** The `query` parameter as a stream selector alone; a pipeline is Loki's 400 "only label matchers are supported". */
  streamSelector(q: Query): LogExpr
  /** start/end with Loki's defaults and the range limits (QUERY_MAX_RANGE_HOURS, the tenant's query_max_range_hours). */
  window(req: FastifyRequest, reply: FastifyReply, q: Query, defaultNs?: bigint): { startNs: bigint; endNs: bigint }
  /** The tenant rule and limits. */
  access: QueryAccess
  stepsOf(q: Query, startNs: bigint, endNs: bigint, name?: string): Steps
}
