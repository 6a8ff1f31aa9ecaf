// The audit log: who (the key id, never the key) did what — deletions, acks, resolves, channel and
// connection changes, refused credentials — as a structured log line (`msg: "audit"`, the entry
// under `audit`) and as rows of the `audit` table, written in batches by `writer` (the runtime's:
// ClickHouse directly where the process holds it, else the audit topic the ClickHouse sink reads).
//
// Audit row (JSON, the `audit` table's columns):
//   {"id":"<uuidv7>","time":"2026-12-01T10:00:00.000Z","service":"alerter","action":"alert.ack",
//    "outcome":"ok","tenant":"acme","key_id":"ops","target":"<alert id>","reason":"",
//    "remote":"10.0.0.7","details":"{\"by\":\"jo\"}"}
import type { Logger } from 'pino'
import { errorMessage, uuidv7 } from '@sluice/core'

export const AUDIT_OUTCOMES = ['ok', 'refused', 'failed'] as const
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number]

export interface AuditEntry {
  /** What was done, `<noun>.<verb>`: `alert.ack`, `deletion.create`, `auth.refused`, … */
  action: string
  outcome: AuditOutcome
  /** The tenant acted on; '' when not known (a refused key). */
  tenant: string
  /** The key's id; 'anonymous' with authentication off, '' when no valid key was presented. */
  keyId: string
  /** What was acted on: an alert id, a deletion id, a route. */
  target?: string
  reason?: string
  remote?: string
  details?: Record<string, unknown>
}

export interface AuditRow {
  id: string
  time: string
  service: string
  action: string
  outcome: AuditOutcome
  tenant: string
  key_id: string
  target: string
  reason: string
  remote: string
  details: string
}

/** Stores a batch of audit rows durably; rejects to have them retried. */
export type AuditWriter = (rows: AuditRow[]) => Promise<void>

export interface AuditLogOptions {
  service: string
  log: Logger
  writer?: AuditWriter | undefined
  flushIntervalMs?: number
  /** Rows kept while the writer fails, oldest dropped beyond (and counted in the log). */
  maxPendingRows?: number
  /** Refusals (`outcome: refused`) written per second at most; a flood of bad keys is counted, not stored row by row. */
  maxRefusalsPerSecond?: number
  clock?: () => number
}

export class AuditLog {
  #opts: Required<Omit<AuditLogOptions, 'writer'>> & { writer: AuditWriter | undefined }
  #pending: AuditRow[] = []
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  #refusalSecond = 0
  #refusalsThisSecond = 0
  #suppressed = 0

  constructor(opts: AuditLogOptions) {
    this.#opts = { flushIntervalMs: 1000, maxPendingRows: 10_000, maxRefusalsPerSecond: 50, clock: Date.now, ...opts, writer: opts.writer }
  }

  record(entry: AuditEntry): void {
    const now = this.#opts.clock()
    if (entry.outcome === 'refused') {
      const second = Math.floor(now / 1000)
      if (second !== this.#refusalSecond) {
        if (this.#suppressed > 0) this.#opts.log.warn({ suppressed: this.#suppressed }, 'audit: refusals beyond the per-second budget were not recorded one by one')
        this.#refusalSecond = second
        this.#refusalsThisSecond = 0
        this.#suppressed = 0
      }
      if (++this.#refusalsThisSecond > this.#opts.maxRefusalsPerSecond) {
        this.#suppressed++
        return
      }
    }
    const row: AuditRow = {
      id: uuidv7(now),
      time: new Date(now).toISOString(),
      service: this.#opts.service,
      action: entry.action,
      outcome: entry.outcome,
      tenant: entry.tenant,
      key_id: entry.keyId,
      target: entry.target ?? '',
      reason: entry.reason ?? '',
      remote: entry.remote ?? '',
      details: entry.details === undefined ? '' : JSON.stringify(entry.details),
    }
    this.#opts.log.info({ audit: row }, 'audit')
    if (this.#opts.writer === undefined) return
    this.#pending.push(row)
    if (this.#pending.length > this.#opts.maxPendingRows) {
      const dropped = this.#pending.length - this.#opts.maxPendingRows
      this.#pending.splice(0, dropped)
      this.#opts.log.error({ dropped }, 'audit: rows dropped, the audit table has not accepted writes for a while')
    }
    this.#timer ??= setTimeout(() => void this.flush(), this.#opts.flushIntervalMs).unref()
  }

  /** Writes what is pending; rows a failed write held are tried again on the next flush. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    await this.#flushing
    const writer = this.#opts.writer
    if (writer === undefined || this.#pending.length === 0) return
    const rows = this.#pending
    this.#pending = []
    this.#flushing = writer(rows).then(
      () => undefined,
      (err: unknown) => {
        this.#opts.log.warn({ err: errorMessage(err), rows: rows.length }, 'audit: write failed, will retry')
        this.#pending = rows.concat(this.#pending)
        this.#timer ??= setTimeout(() => void this.flush(), this.#opts.flushIntervalMs * 5).unref()
      },
    )
    await this.#flushing
  }

  async close(): Promise<void> {
    await this.flush()
    clearTimeout(this.#timer)
    this.#timer = undefined
  }
}
