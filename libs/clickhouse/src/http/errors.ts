// Errors of the analyst HTTP interface, in ClickHouse's own terms: every answer that is not data
// carries a ClickHouse error code (the X-ClickHouse-Exception-Code header), a text body
// `Code: N. DB::Exception: <message>. (NAME) (version V)` and the HTTP status ClickHouse maps the
// code to, so clients that parse ClickHouse's errors (clickhouse-connect, the JDBC driver,
// @clickhouse/client) read ours unchanged. Errors raised by the engine keep their own code.

/** The ClickHouse error codes this interface raises itself (the engine raises any of its own). */
export const CLICKHOUSE_ERRORS = {
  UNSUPPORTED_METHOD: 1,
  BAD_ARGUMENTS: 36,
  NOT_IMPLEMENTED: 48,
  SYNTAX_ERROR: 62,
  UNKNOWN_FORMAT: 73,
  UNKNOWN_SETTING: 115,
  TIMEOUT_EXCEEDED: 159,
  READONLY: 164,
  REQUIRED_PASSWORD: 194,
  TOO_MANY_SIMULTANEOUS_QUERIES: 202,
  QUERY_IS_TOO_LARGE: 229,
  CANNOT_DECOMPRESS: 271,
  INTO_OUTFILE_NOT_ALLOWED: 358,
  ACCESS_DENIED: 497,
  AUTHENTICATION_FAILED: 516,
  UNSUPPORTED_MEDIA_TYPE: 779,
  UNKNOWN_EXCEPTION: 1002,
} as const

export type ClickHouseErrorName = keyof typeof CLICKHOUSE_ERRORS

/** A refusal or failure to send to the client as ClickHouse would. */
export class ClickHouseHttpError extends Error {
  readonly code: number
  /** ClickHouse's name of the code, e.g. READONLY; empty when not known. */
  readonly type: string
  /** The complete `Code: N. DB::Exception: …` text when the engine produced it. */
  readonly engineText: string | undefined
  /** The HTTP status of the answer: ClickHouse's for the code, unless the error is known to be the client's. */
  readonly status: number

  constructor(code: number, type: string, message: string, options: { cause?: unknown; engineText?: string; status?: number } = {}) {
    super(message, { cause: options.cause })
    this.name = 'ClickHouseHttpError'
    this.code = code
    this.type = type
    this.engineText = options.engineText
    this.status = options.status ?? httpStatusOf(code)
  }
}

/** An error of this interface (not of the engine), by name. */
export function refusal(name: ClickHouseErrorName, message: string): ClickHouseHttpError {
  return new ClickHouseHttpError(CLICKHOUSE_ERRORS[name], name, message)
}

// `Code: 62. DB::Exception: Syntax error: …. (SYNTAX_ERROR)` — chdb's text of an engine error
// (without the server's version trailer); a nested error repeats the prefix inside the message.
const ENGINE_TEXT = /^Code: (\d+)\. DB::Exception: ([\s\S]*?)(?:\. \(([A-Z_0-9]+)\))?(?: \(version [^)]*\))?\.?\s*$/

/** Any error thrown while running a query, as a ClickHouseHttpError (code 1002 when it is not the engine's). */
export function fromEngineError(err: unknown): ClickHouseHttpError {
  if (err instanceof ClickHouseHttpError) return err
  const text = err instanceof Error ? err.message : String(err)
  const m = ENGINE_TEXT.exec(text.trim())
  if (m) return new ClickHouseHttpError(Number(m[1]), m[3] ?? '', m[2] ?? text, { cause: err, engineText: text.trim() })
  return new ClickHouseHttpError(CLICKHOUSE_ERRORS.UNKNOWN_EXCEPTION, 'UNKNOWN_EXCEPTION', text, { cause: err })
}

// Reading an INSERT's rows, the engine reports a body it cannot read with codes ClickHouse answers
// 500 (CANNOT_READ_ALL_DATA for RowBinary cut short, ZLIB_INFLATE_FAILED for a broken gzip body, …):
// the request was wrong, not the server, so the sender learns not to retry it as is. Errors that
// mean the server could not take the rows (memory, disk, too many parts) keep their 5xx.
const INSERT_DATA_MARK = 'data for INSERT was parsed from file'
const SERVER_FAULTS = new Set([74, 75, 76, 107, 159, 241, 243, 252, 394])
const NO_SUCH_COLUMN_IN_TABLE = 16

/** An error of an INSERT that read its rows from the request body: 400 when the body (or a column it names) was at fault. */
export function insertDataError(err: unknown): ClickHouseHttpError {
  const e = fromEngineError(err)
  if (e.status < 500 || SERVER_FAULTS.has(e.code)) return e
  const text = e.engineText ?? e.message
  if (e.code !== NO_SUCH_COLUMN_IN_TABLE && !text.includes(INSERT_DATA_MARK)) return e
  return new ClickHouseHttpError(e.code, e.type, e.message, { cause: e.cause, ...(e.engineText !== undefined && { engineText: e.engineText }), status: 400 })
}

/** The response body ClickHouse sends for an error: one line, with the server version. */
export function errorBody(err: ClickHouseHttpError, version: string): string {
  let text = err.engineText ?? `Code: ${err.code}. DB::Exception: ${err.message}${err.type ? `. (${err.type})` : ''}`
  text = text.replace(/\.$/, '')
  if (!/\(version [^)]*\)$/.test(text)) text += ` (version ${version})`
  return `${text}\n`
}

// ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp), by name
// and code (codes as ClickHouse 26's errorCodeToName() gives them).
const HTTP_STATUS: ReadonlyArray<readonly [number, Readonly<Record<string, number>>]> = [
  [401, { REQUIRED_PASSWORD: 194 }],
  [403, { UNKNOWN_USER: 192, WRONG_PASSWORD: 193, AUTHENTICATION_FAILED: 516, SET_NON_GRANTED_ROLE: 512, ACCESS_DENIED: 497 }],
  [
    400,
    {
      BAD_ARGUMENTS: 36, CANNOT_COMPILE_REGEXP: 427, CANNOT_PARSE_TEXT: 6, CANNOT_PARSE_ESCAPE_SEQUENCE: 25, CANNOT_PARSE_QUOTED_STRING: 26,
      CANNOT_PARSE_DATE: 38, CANNOT_PARSE_DATETIME: 41, CANNOT_PARSE_NUMBER: 72, CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING: 441,
      CANNOT_PARSE_IPV4: 675, CANNOT_PARSE_IPV6: 676, CANNOT_PARSE_INPUT_ASSERTION_FAILED: 27, CANNOT_PARSE_UUID: 376, DUPLICATE_COLUMN: 15,
      ILLEGAL_COLUMN: 44, UNKNOWN_ELEMENT_IN_AST: 37, UNKNOWN_TYPE_OF_AST_NODE: 123, THERE_IS_NO_COLUMN: 8, TOO_DEEP_AST: 167, TOO_BIG_AST: 168,
      UNEXPECTED_AST_STRUCTURE: 223, SYNTAX_ERROR: 62, INCORRECT_DATA: 117, TYPE_MISMATCH: 53, VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE: 321,
    },
  ],
  [
    404,
    {
      UNKNOWN_TABLE: 60, UNKNOWN_FUNCTION: 46, UNKNOWN_IDENTIFIER: 47, UNKNOWN_TYPE: 50, UNKNOWN_STORAGE: 56, UNKNOWN_DATABASE: 81,
      UNKNOWN_SETTING: 115, UNKNOWN_DIRECTION_OF_SORTING: 152, UNKNOWN_AGGREGATE_FUNCTION: 63, UNKNOWN_FORMAT: 73,
      UNKNOWN_DATABASE_ENGINE: 336, UNKNOWN_TYPE_OF_QUERY: 78, UNKNOWN_ROLE: 511,
    },
  ],
  [413, { QUERY_IS_TOO_LARGE: 229 }],
  [501, { NOT_IMPLEMENTED: 48 }],
  [503, { SOCKET_TIMEOUT: 209, CANNOT_OPEN_FILE: 76, CANNOT_SCHEDULE_TASK: 439 }],
  [411, { HTTP_LENGTH_REQUIRED: 381 }],
  [408, { TIMEOUT_EXCEEDED: 159 }],
  [415, { UNSUPPORTED_MEDIA_TYPE: 779 }],
]
const STATUS_BY_CODE = new Map(HTTP_STATUS.flatMap(([status, codes]) => Object.values(codes).map((c) => [c, status] as const)))

/** The HTTP status ClickHouse answers an error code with; everything unlisted is 500, as in ClickHouse. */
export function httpStatusOf(code: number): number {
  return STATUS_BY_CODE.get(code) ?? 500
}
