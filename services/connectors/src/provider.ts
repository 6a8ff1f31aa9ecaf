// What a cloud log provider gives the connectors service: one page of log entries in a time
// window, each with the provider's own stable id and event time, already mapped to Sluice's JSON
// record shape (the shape POST /v1/logs takes). Everything else — windows, pagination order,
// checkpoints, duplicates, late data, backoff, producing to Kafka — is the service's (poller.ts),
// the same for every provider.
import type { z } from 'zod'

export const PROVIDER_KINDS = ['aws-cloudwatch', 'azure-monitor', 'gcp-logging'] as const
export type ProviderKind = (typeof PROVIDER_KINDS)[number]

/** A Sluice JSON record (see validateLogInput in @sluice/core): what POST /v1/logs accepts for one record. */
export interface SluiceRecord {
  /** Event time: epoch nanoseconds as a decimal string, or RFC 3339. */
  timestamp: string
  service: string
  message: string
  /** A level name (info, warn, error…) or omitted. */
  level?: string
  severity_number?: number
  host?: string
  trace_id?: string
  span_id?: string
  attributes?: Record<string, string>
  resource?: Record<string, string>
}

export interface ProviderEvent {
  /** The provider's id of the entry (CloudWatch eventId, GCP insertId, a Log Analytics row hash): unique within the connection. */
  providerId: string
  /** Event time in epoch milliseconds (for windows and checkpoints). */
  timeMs: number
  record: SluiceRecord
}

export interface Page {
  events: ProviderEvent[]
  /** Set when more entries of the same window follow. */
  nextPageToken?: string | undefined
  /** Entries of the page left out (a time that is not one, outside the window, not mappable): counted and logged by the poller. */
  skipped?: Skipped[] | undefined
}

/**
 * Why an entry was not taken: the `reason` label of sluice_connector_invalid_entries_total (a
 * closed list, so the label stays low-cardinality).
 */
export const SKIP_REASONS = [
  /** Its time is missing or not epoch milliseconds (ns, a fraction, a string…). */
  'bad_timestamp',
  /** Its time falls outside the window asked for (before the connection's start, in the future…). */
  'outside_window',
  /** The provider's mapping failed on it (a field of an unexpected type, a row without its id or time). */
  'unmappable',
  /** The record does not pass Sluice's validation (validateLogInput). */
  'invalid_record',
  /** Its encoded record is larger than a Kafka message may be. */
  'too_large',
  /** Another entry of the same page has its id (the first one is taken). */
  'duplicate_id',
] as const
export type SkipReason = (typeof SKIP_REASONS)[number]

export interface Skipped {
  reason: SkipReason
  /** The provider's id of the entry, when it has one. */
  providerId?: string | undefined
  /** What was wrong, for the log (never the entry's content). */
  detail: string
}

export type ProviderErrorKind =
  /** The provider throttled us (ThrottlingException, 429, RESOURCE_EXHAUSTED): back off, honouring retryAfterMs. */
  | 'throttled'
  /** Bad or expired credentials, or missing permissions: not retried until the connection changes (or slowly). */
  | 'auth'
  /** A selection that does not exist (log group, workspace, project) or a query the provider refuses. */
  | 'bad_request'
  /** Outage, 5xx, network: retried with backoff. */
  | 'unavailable'

export class ProviderError extends Error {
  constructor(
    readonly kind: ProviderErrorKind,
    /** The provider's error code or name (e.g. ThrottlingException, 403, PERMISSION_DENIED). */
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message)
    this.name = 'ProviderError'
  }
}

export interface FetchRequest {
  /** Inclusive start, epoch ms. */
  fromMs: number
  /** Exclusive end, epoch ms. */
  toMs: number
  /** From the previous page of the same window. */
  pageToken?: string | undefined
  /** Most entries wanted in this page (the provider may cap lower). */
  limit: number
  signal: AbortSignal
}

/**
 * One provider. `Settings` is the connection's whole configuration (selection and credentials)
 * as its zod schema outputs it; `secretFields` names the top-level fields that are secrets (sealed
 * at rest, never returned).
 */
export interface Provider<Settings> {
  readonly kind: ProviderKind
  readonly settingsSchema: z.ZodType<Settings>
  readonly secretFields: readonly string[]
  /** A secret that belongs to another setting's value: an update that changes that setting does not keep it. */
  readonly secretTiedTo?: Readonly<Record<string, string>>
  /** A client for one connection's settings; `close()` releases it. */
  connect(settings: Settings): ProviderClient
}

export interface ProviderClient {
  /** One page of entries with timeMs in [fromMs, toMs). Throws ProviderError (never anything else for provider answers). */
  fetchPage(req: FetchRequest): Promise<Page>
  /** A dry run: the smallest call that proves the credentials and the selection work. Throws ProviderError. */
  test(signal: AbortSignal): Promise<void>
  close(): Promise<void>
}
