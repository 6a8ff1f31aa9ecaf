// Live tail (`/loki/api/v1/tail`, WebSocket), as Loki serves it: first the newest `limit` lines
// since `start` (default one hour ago), oldest first, then every line stored after the client
// connected, in frames `{"streams":[…],"dropped_entries":null}`.
//
// New lines are found by when Sluice received them (ObservedTimestamp), not by their own time, so
// a late or back-dated line still shows. A poll reads on from the last row it read, in the order
// (ObservedTimestamp, Timestamp, id), at most QUERY_MAX_LINES rows: the frontier moves over every
// row read, so a busy stream (a gateway request stamps all its records with one time) is read a
// page after another rather than from the same place again. A record observed at t reaches
// ClickHouse a sink flush later, perhaps after records observed later (another partition's flush):
// while lines came in the last LAG_NS, each poll also counts the matching records in the LAG_NS
// before its frontier, and when there are more than it sent, reads that window again and sends
// the ones it had not (ids sent are kept for the window). `delay_for` (0–5 s, as Loki's) holds back
// the lines that arrived within that many seconds, so those a slow sink flush stores late still go
// out in arrival order rather than through the look-back. At most QUERY_TAIL_MAX_CONNECTIONS tails
// run at once, one poll each at a time.
// The tenant is settled before the upgrade, so a refused one (401, 403, a backlog beyond the
// tenant's range limit) is an HTTP answer rather than a socket closed without a reason.
import { websocketOnly } from '@sluice/observability'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { LogExpr } from '../logql/ast.js'
import { compileLines } from './compile.js'
import type { LinesStatement, LogLine, Scope } from './compile.js'
import type { Params } from './sql.js'
import type { OutputRow } from './pipeline.js'
import { int, str, time } from './params.js'
import type { Query } from './params.js'

type TailRow = OutputRow & { id: string; obs: string }

/** Where a tail has read up to: the last row read, in (ObservedTimestamp, Timestamp, id) order. */
interface Frontier {
  obs: bigint
  ts: bigint
  id: string
}

export interface TailOptions {
  maxConnections: number
  pollMs: number
  maxLines: number
  parse(q: Query): LogExpr
  /** The tail's tenant; throws when it is refused, or when its backlog (`backlogNs`) reaches too far back. */
  scopeOf(req: FastifyRequest, backlogNs: bigint): Scope
  query(st: LinesStatement): Promise<OutputRow[]>
  /** Builds a statement with the attribute keys its labels stand for settled (routes.ts settle). */
  prepare(scope: Scope, build: (scope: Scope) => LinesStatement): Promise<LinesStatement>
  /** What the client should hear when the compiler or ClickHouse refused a tail's statement on its account (guard.ts limitMessage); else undefined. */
  refusal(err: unknown): string | undefined
  stream(lines: LogLine[]): unknown
}

const LAG_NS = 10_000_000_000n
const LAG_MS = Number(LAG_NS / 1_000_000n)

const placeOf = (r: TailRow): Frontier => ({ obs: BigInt(r.obs), ts: BigInt(r.ts as string), id: r.id })
/** Whether `a` comes after `b` in (ObservedTimestamp, Timestamp, id) order. */
const isAfter = (a: Frontier, b: Frontier) => a.obs !== b.obs ? a.obs > b.obs : a.ts !== b.ts ? a.ts > b.ts : a.id > b.id
const DAY_NS = 86_400_000_000_000n
/** WebSocket close code "try again later" (RFC 6455 registry). */
const TRY_AGAIN_LATER = 1013
const INVALID_REQUEST = 1008

const HOUR_NS = 3_600_000_000_000n

export function registerTail(api: FastifyInstance, opts: TailOptions): void {
  let open = 0
  const scopes = new WeakMap<FastifyRequest, Scope>()
  const preHandler = async (req: FastifyRequest) => {
    const now = BigInt(Date.now()) * 1_000_000n
    let startNs: bigint
    try {
      startNs = time(req.query as Query, 'start', now - HOUR_NS)
    } catch {
      startNs = now - HOUR_NS // a bad start is the socket's to refuse, with the other parameters
    }
    scopes.set(req, opts.scopeOf(req, now - startNs))
  }
  api.route({ method: 'GET', url: '/tail', preHandler, handler: websocketOnly, wsHandler: (socket: WebSocket, req) => {
    if (open >= opts.maxConnections) {
      socket.close(TRY_AGAIN_LATER, `max concurrent tail requests limit exceeded (${opts.maxConnections}, QUERY_TAIL_MAX_CONNECTIONS)`)
      return
    }
    let expr: LogExpr
    let scope: Scope
    let startNs: bigint
    let limit: number
    let delayNs = 0n
    const q = req.query as Query
    try {
      expr = opts.parse(q)
      const settled = scopes.get(req)
      if (settled === undefined) throw new Error('tenant not settled')
      scope = settled
      const now = BigInt(Date.now()) * 1_000_000n
      startNs = time(q, 'start', now - HOUR_NS)
      limit = int(q, 'limit', 100, opts.maxLines)
      const delay = str(q, 'delay_for')
      if (delay !== undefined && !(Number(delay) >= 0 && Number(delay) <= 5)) throw new Error('delay_for must be between 0 and 5 seconds')
      if (delay !== undefined) delayNs = BigInt(Math.round(Number(delay) * 1000)) * 1_000_000n
    } catch (err) {
      socket.close(INVALID_REQUEST, (err as Error).message.slice(0, 120))
      return
    }
    open++
    const connectedNs = BigInt(Date.now()) * 1_000_000n
    // Rows observed in the LAG_NS before connecting are new too, unless the backlog sent them.
    let frontier: Frontier = { obs: connectedNs - LAG_NS, ts: 0n, id: '' }
    /** When a poll last read rows past the frontier (ms). */
    let readAt = Date.now()
    /** Ids sent, with their place in the order, for the look-back window. */
    const sent = new Map<string, Frontier>()
    let busy = false
    let closed = false
    const send = (rows: TailRow[], st: LinesStatement) => {
      if (rows.length && !closed) socket.send(JSON.stringify({ streams: opts.stream(rows.map(st.shape)), dropped_entries: null }))
    }
    const extra = 'id, toString(toUnixTimestamp64Nano(ObservedTimestamp)) AS obs'
    const at = (p: Params, f: Frontier) => `(fromUnixTimestamp64Nano(${p.bind(f.obs.toString(), 'Int64')}), fromUnixTimestamp64Nano(${p.bind(f.ts.toString(), 'Int64')}), ${p.bind(f.id)})`
    const observedAfter = (p: Params, ns: bigint, orAt = false) => `ObservedTimestamp ${orAt ? '>=' : '>'} fromUnixTimestamp64Nano(${p.bind(ns.toString(), 'Int64')})`
    /** A statement for the matching rows within `bounds`: `rows` of them, oldest arrival first, or all (to count them). */
    const statement = (bounds: (p: Params) => string[], rows?: number) =>
      opts.prepare(scope, (s) =>
        compileLines(s, expr, {
          fromNs: startNs,
          toNs: BigInt(Date.now()) * 1_000_000n + DAY_NS,
          extra,
          more: bounds,
          ...(rows !== undefined && { tail: (p: Params) => `ORDER BY ObservedTimestamp, Timestamp, id LIMIT ${p.bind(rows, 'UInt32')}` }),
        }),
      )
    /** Sends the rows not sent yet. */
    const sendNew = (rows: TailRow[], st: LinesStatement) => {
      const fresh = rows.filter((r) => !sent.has(r.id))
      for (const r of fresh) sent.set(r.id, placeOf(r))
      send(fresh, st)
    }
    /** Sends the lines of the LAG_NS before the frontier that it has not sent, if there are any. */
    const lookBack = async () => {
      const upTo = frontier
      const windowFrom = upTo.obs - LAG_NS
      let sentInWindow = 0
      for (const [id, place] of sent) {
        if (place.obs <= windowFrom) sent.delete(id)
        else if (!isAfter(place, upTo)) sentInWindow++
      }
      const behind = (p: Params) => [observedAfter(p, windowFrom), `(ObservedTimestamp, Timestamp, id) <= ${at(p, upTo)}`]
      const all = await statement(behind)
      const [stored] = (await opts.query({ ...all, query: `SELECT uniqExact(id) AS n FROM (${all.query})` })) as unknown as Array<{ n: string }>
      if (Number(stored?.n ?? 0) > sentInWindow) {
        const late = await statement(behind, sentInWindow + opts.maxLines)
        sendNew((await opts.query(late)) as TailRow[], late)
      }
    }
    const poll = async () => {
      if (busy || closed) return
      busy = true
      /** A whole page read: more may be waiting, read on without waiting for the next poll. */
      let full = false
      try {
        // On from the frontier, which moves over every row read.
        const from = frontier
        // Lines that arrived within delay_for wait for a later poll.
        const upTo = BigInt(Date.now()) * 1_000_000n - delayNs
        const held = (p: Params) => (delayNs > 0n ? [`ObservedTimestamp <= fromUnixTimestamp64Nano(${p.bind(upTo.toString(), 'Int64')})`] : [])
        const next = await statement((p) => [observedAfter(p, from.obs, true), `(ObservedTimestamp, Timestamp, id) > ${at(p, from)}`, ...held(p)], opts.maxLines)
        const rows = (await opts.query(next)) as TailRow[]
        full = rows.length === opts.maxLines
        sendNew(rows, next)
        const last = rows.at(-1)
        if (last) {
          frontier = placeOf(last)
          readAt = Date.now()
        }
        // Behind it: records that reached ClickHouse after records observed later, looked for while
        // lines came in the last LAG_NS (a tail of a quiet stream runs one statement a poll).
        if (Date.now() - readAt <= LAG_MS) await lookBack()
      } catch (err) {
        req.log.warn({ err }, 'tail poll failed')
        failed(err)
      } finally {
        busy = false
      }
      if (full) setImmediate(() => void poll())
    }
    /** Closes the socket after a failed statement: the client's request (1008, its reason) or ours (1011). */
    const failed = (err: unknown) => {
      const why = opts.refusal(err)
      // A close reason holds at most 123 bytes.
      socket.close(why ? INVALID_REQUEST : 1011, why ? Buffer.from(why).subarray(0, 123).toString().replace(/\uFFFD$/, '') : 'tail query failed')
    }
    let timer: NodeJS.Timeout | undefined
    socket.on('close', () => {
      closed = true
      open--
      clearInterval(timer)
    })
    // The backlog: newest `limit` lines since start, sent oldest first; then the polls.
    const backlogOf = (s: Scope) => compileLines(s, expr, { fromNs: startNs, toNs: connectedNs + 1n, extra, tail: (p) => `ORDER BY TimestampTime DESC, Timestamp DESC LIMIT ${p.bind(limit, 'UInt32')}` })
    void opts.prepare(scope, backlogOf).then(
      (backlog) =>
        opts
          .query(backlog)
          .then((found) => {
            const rows = found as TailRow[]
            for (const r of rows) sent.set(r.id, placeOf(r))
            send(rows.reverse(), backlog)
            if (!closed) timer = setInterval(() => void poll(), opts.pollMs)
          })
          .catch((err: unknown) => {
            req.log.warn({ err }, 'tail backlog query failed')
            failed(err)
          }),
      (err: unknown) => {
        // A query the compiler refuses (a feature Sluice does not support) is the client's fault, 1008.
        if (!opts.refusal(err)) req.log.warn({ err }, 'tail backlog query failed')
        failed(err)
      },
    )
  } })
}
