// What a request's URL parameters (and multipart fields) may do. ClickHouse's HTTP interface takes
// three kinds of parameters: its own (query, database, credentials, compression, …), query
// parameters `param_<name>`, and any setting. The analyst interface runs every query read-only
// (readonly = 1, set by the engine session itself, see engine.ts), so it accepts:
// - its own parameters, either acted on (database, default_format, query_id, compress, …) or
//   accepted and ignored where they make no difference here (session_id: every query has its own
//   session; wait_end_of_query; progress headers);
// - settings that only shape how a result is written or read and cannot reach outside the query:
//   output formats, date and time formats, time zone, NULL handling, `final`, …; not resource
//   knobs (max_threads: the process's CPUs are the sink's too) nor the analyzer switch (the tenant
//   scope is verified with the default analyzer);
// - limits, at or below the interface's own (a client may lower max_result_rows; a higher value,
//   or 0, is taken as the interface's own);
// and refuses every other setting the way ClickHouse refuses it to a readonly = 1 user (code 164),
// or as unknown (code 115). Names that could name files or schemas (format_schema,
// output_format_schema, format_template_*) are refused even inside the accepted prefixes.
// The service user (Sluice's own processes) may set any setting the engine knows, with no limits.
import { refusal } from './errors.js'

/** Parameters of the HTTP interface itself, never settings. */
const TRANSPORT_PARAMS = new Set([
  'query', 'database', 'default_format', 'user', 'password', 'quota_key', 'query_id', 'session_id', 'session_timeout',
  'session_check', 'compress', 'decompress', 'buffer_size', 'wait_end_of_query', 'client_protocol_version', 'role', 'stacktrace',
  'enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers', 'http_headers_progress_interval_ms',
  'http_response_buffer_size', 'http_wait_end_of_query', 'cancel_http_readonly_queries_on_client_close',
  'http_native_compression_disable_checksumming_on_decompress', 'add_http_cors_header', 'http_write_exception_in_output_format',
])

/** Settings a read-only analyst may set: they shape output and query semantics, never reach outside. */
const ALLOWED_SETTINGS = new Set([
  'date_time_output_format', 'date_time_input_format', 'date_time_64_output_format_cut_trailing_zeros_align_to_groups_of_thousands',
  'interval_output_format', 'bool_true_representation', 'bool_false_representation', 'session_timezone', 'extremes',
  'result_overflow_mode', 'timeout_overflow_mode', 'max_rows_to_read', 'max_bytes_to_read', 'read_overflow_mode',
  'max_rows_to_group_by', 'group_by_overflow_mode', 'max_rows_to_sort', 'max_bytes_to_sort', 'sort_overflow_mode',
  'max_result_bytes', 'join_use_nulls', 'final', 'limit', 'offset', 'transform_null_in', 'union_default_mode',
  'aggregate_functions_null_for_empty', 'cast_keep_nullable', 'cast_string_to_dynamic_use_inference', 'log_comment',
  'prefer_column_name_to_alias', 'joined_subquery_requires_alias', 'do_not_merge_across_partitions_select_final',
  'format_csv_delimiter', 'format_csv_null_representation', 'format_tsv_null_representation', 'format_csv_allow_single_quotes',
  'format_csv_allow_double_quotes', 'precise_float_parsing', 'use_client_time_zone',
])
// Insert settings are meaningless to a read-only user, and the JDBC driver sends async_insert=0 with every query.
const ALLOWED_PREFIXES = ['output_format_', 'input_format_', 'async_insert', 'wait_for_async_insert']
/** Within the accepted prefixes: settings that name files, schemas or external resources. */
const REFUSED_PARTS = /schema|path|file|template|url|_dir/

/** Limits the interface enforces; a client may lower them, never raise them. 0 = no limit. */
export interface Limits {
  maxResultRows: number
  maxExecutionTimeSeconds: number
  maxMemoryBytes: number
}

export interface RequestPlan {
  /** Settings to SET on the query's session, as text, in order. */
  settings: Map<string, string>
  /** Query parameters `{name:Type}` by name. */
  queryParams: Map<string, string>
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Sorts a request's parameters into settings and query parameters, refusing what a read-only
 * analyst may not set; `knownSettings` are the engine's setting names (system.settings).
 */
export function planRequest(params: ReadonlyMap<string, string>, knownSettings: ReadonlySet<string>, limits: Limits): RequestPlan {
  const { settings, queryParams } = sortParams(params, knownSettings, (name, value) => settingValue(name, value, limits))
  // The interface's own limits last, so they hold whatever the client asked.
  const limit = (name: string, ours: number) => {
    if (ours > 0 && !settings.has(name)) settings.set(name, String(ours))
  }
  limit('max_result_rows', limits.maxResultRows)
  limit('max_execution_time', limits.maxExecutionTimeSeconds)
  limit('max_memory_usage', limits.maxMemoryBytes)
  if (!settings.has('result_overflow_mode') && limits.maxResultRows > 0) settings.set('result_overflow_mode', 'throw')
  return { settings, queryParams }
}

/**
 * The same for Sluice's own processes (the service user): every setting the engine knows, as
 * given, and no limits — as a ClickHouse server treats a user without a settings profile.
 */
export function planServiceRequest(params: ReadonlyMap<string, string>, knownSettings: ReadonlySet<string>): RequestPlan {
  return sortParams(params, knownSettings, (_name, value) => value)
}

function sortParams(params: ReadonlyMap<string, string>, knownSettings: ReadonlySet<string>, valueOf: (name: string, value: string) => string): RequestPlan {
  const settings = new Map<string, string>()
  const queryParams = new Map<string, string>()
  for (const [name, value] of params) {
    if (TRANSPORT_PARAMS.has(name)) continue
    if (name.startsWith('param_')) {
      const key = name.slice('param_'.length)
      if (!IDENTIFIER.test(key)) throw refusal('BAD_ARGUMENTS', `Query parameter name ${JSON.stringify(key)} is not an identifier`)
      queryParams.set(key, value)
      continue
    }
    if (!knownSettings.has(name)) {
      throw refusal('UNKNOWN_SETTING', `Setting ${name} is neither a builtin setting nor started with the prefix 'SQL_' registered for user-defined settings`)
    }
    settings.set(name, valueOf(name, value))
  }
  return { settings, queryParams }
}

function settingValue(name: string, value: string, limits: Limits): string {
  switch (name) {
    case 'readonly':
      // Asking for what holds anyway is fine; anything else would lift it.
      if (value === '1') return value
      throw refusal('READONLY', `Cannot modify 'readonly' setting in readonly mode`)
    case 'max_result_rows':
      return atMost(name, value, limits.maxResultRows)
    case 'max_execution_time':
      return atMost(name, value, limits.maxExecutionTimeSeconds)
    case 'max_memory_usage':
      return atMost(name, value, limits.maxMemoryBytes)
  }
  if (ALLOWED_SETTINGS.has(name)) return value
  if (ALLOWED_PREFIXES.some((p) => name.startsWith(p)) && !REFUSED_PARTS.test(name)) return value
  throw refusal('READONLY', `Cannot modify '${name}' setting in readonly mode`)
}

/**
 * A limit the client may lower: its value when within ours, else ours (0 = none, on either side).
 * Clamped rather than refused: clients send their own defaults (Grafana its query timeout) and
 * should work unchanged; the limit holds either way.
 */
function atMost(name: string, value: string, ours: number): string {
  const asked = Number(value)
  if (!Number.isFinite(asked) || asked < 0) throw refusal('BAD_ARGUMENTS', `Cannot parse ${JSON.stringify(value)} as the value of setting ${name}`)
  if (ours === 0 || (asked > 0 && asked <= ours)) return value
  return String(ours)
}
