// pino JSON logs to stdout: one root logger per process, child loggers per service and component.
import { pino } from 'pino'
import type { DestinationStream, Logger, LevelWithSilent } from 'pino'

export type { Logger }

/** `destination`: where lines go (default stdout); tests capture them. */
export function createLogger(opts: { name?: string; level?: LevelWithSilent; destination?: DestinationStream } = {}): Logger {
  return pino({
    name: opts.name ?? 'sluice',
    level: opts.level ?? 'info',
    base: { pid: process.pid },
    // Credentials never reach the log: API keys in any header they travel in, passwords, tokens.
    redact: {
      paths: [
        '*.password',
        '*.apiKey',
        '*.token',
        '*.key',
        'req.headers.authorization',
        'req.headers["x-api-key"]',
        'req.headers["dd-api-key"]',
        '*.headers.authorization',
        '*.headers["x-api-key"]',
        '*.headers["dd-api-key"]',
        'headers.authorization',
        'headers["x-api-key"]',
        'headers["dd-api-key"]',
        'config.CLICKHOUSE_PASSWORD',
      ],
      censor: '[redacted]',
    },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, opts.destination)
}
