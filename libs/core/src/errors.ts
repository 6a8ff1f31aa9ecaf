// One base error for every lib: a closed `code`, an optional `cause`, and `canRetry`, so callers
// decide on retries by reading data instead of matching message strings.

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'VALIDATION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'OVERLOADED',
  'KAFKA_UNAVAILABLE',
  'KAFKA_PRODUCE_FAILED',
  'REGISTRY_UNAVAILABLE',
  'DECODE_FAILED',
  'TRANSFORM_FAILED',
  'CLICKHOUSE_UNAVAILABLE',
  'CLICKHOUSE_INSERT_FAILED',
  'MIGRATION_FAILED',
  'SHUTTING_DOWN',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'RATE_LIMITED',
  'CLIENT_CLOSED',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

export interface SluiceErrorOptions {
  cause?: unknown
  canRetry?: boolean
  /** When the client may try again (429, 503): the Retry-After answered. */
  retryAfterSeconds?: number
}

export class SluiceError extends Error {
  readonly code: ErrorCode
  readonly canRetry: boolean
  readonly retryAfterSeconds: number | undefined

  constructor(code: ErrorCode, message: string, options: SluiceErrorOptions = {}) {
    super(message, { cause: options.cause })
    this.name = 'SluiceError'
    this.code = code
    this.canRetry = options.canRetry ?? false
    this.retryAfterSeconds = options.retryAfterSeconds
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError
}

/** Message of an unknown thrown value, for logs and DLQ reasons. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
