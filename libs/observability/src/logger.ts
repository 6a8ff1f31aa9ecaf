// pino JSON logs to stdout: one root logger per process, child loggers per service and component.
import { pino } from 'pino'
import type { Logger, LevelWithSilent } from 'pino'

export type { Logger }

export function createLogger(opts: { name?: string; level?: LevelWithSilent } = {}): Logger {
  return pino({
    name: opts.name ?? 'sluice',
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    redact: { paths: ['*.password', '*.apiKey', '*.token', 'req.headers.authorization', 'config.CLICKHOUSE_PASSWORD'], censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  })
}
