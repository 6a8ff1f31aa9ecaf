// A stage's telemetry contract, with the log line and the metric written by one call so they never
// disagree: sluice_<stage>_events_received_total, _sent_total, _dropped_total{reason},
// _errors_total{code} (closed codes: @sluice/core's ERROR_CODES). Labels stay low-cardinality.
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { errorMessage, isSluiceError } from '@sluice/core'
import type { ErrorCode } from '@sluice/core'
import { stageMetrics } from '@sluice/observability'
import type { StageMetrics } from '@sluice/observability'

export type DropReason = 'dlq' | 'invalid' | 'undecodable' | 'rebalanced'

/** The code counted for `err`: its own when it is a SluiceError, else `fallback`. */
export function codeOf(err: unknown, fallback: ErrorCode): ErrorCode {
  return isSluiceError(err) ? err.code : fallback
}

export class StageTelemetry {
  readonly stage: string
  readonly log: Logger
  readonly #m: StageMetrics

  constructor(registry: Registry, logger: Logger, stage: string) {
    this.stage = stage
    this.log = logger
    this.#m = stageMetrics(registry, stage)
  }

  received(n: number): void {
    if (n > 0) this.#m.received.inc(n)
  }

  sent(n: number): void {
    if (n > 0) this.#m.sent.inc(n)
  }

  /** Records dropped on purpose (dead-lettered, refused, skipped), with why. */
  dropped(reason: DropReason, n: number, fields: Record<string, unknown>, message: string): void {
    if (n === 0) return
    this.#m.dropped.inc({ reason }, n)
    this.log.warn({ ...fields, stage: this.stage, count: n }, message)
  }

  /** A failure the stage recovers from (it retries, or the record goes on elsewhere). */
  retrying(err: unknown, fallback: ErrorCode, fields: Record<string, unknown>, message: string): void {
    this.#m.errors.inc({ code: codeOf(err, fallback) })
    this.log.warn({ ...fields, stage: this.stage, err: errorMessage(err) }, message)
  }

  /** A failure counted without a log line of its own (the caller logs the batch once). */
  failed(err: unknown, fallback: ErrorCode): ErrorCode {
    const code = codeOf(err, fallback)
    this.#m.errors.inc({ code })
    return code
  }

  /** A failure already reduced to its code (a dead letter's). */
  counted(code: string): void {
    this.#m.errors.inc({ code })
  }

  /** A failure the stage does not recover from here. */
  error(err: unknown, fallback: ErrorCode, fields: Record<string, unknown>, message: string): void {
    this.#m.errors.inc({ code: codeOf(err, fallback) })
    this.log.error({ ...fields, stage: this.stage, err }, message)
  }
}
