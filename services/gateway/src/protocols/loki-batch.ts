// One Loki push request as Sluice records, whichever wire format it came in (loki-wire.ts reads
// both into a PushBatch), and the error text Loki clients get back for what was refused.
//
// Mapping of a stream's labels (the first label present, non-empty, in this order, wins; the
// chosen one is not repeated in the resource):
//   service   service_name, service, app, application, job, container, container_name
//   host      host, hostname, instance, node
//   level     level, detected_level, severity, lvl — only a value Sluice reads as a level; an
//             unreadable one (Loki's "unknown") stays a resource label and the level defaults
//   resource  every other label
// and of each entry:
//   message   the line
//   timestamp the entry's time, exact to the nanosecond; one before 1970 or after 2096-01-01T00:00:00Z
//             (LATEST_NS) refuses the entry
//   attributes the structured metadata; `trace_id` / `span_id` with 32 / 16 hex digits become the
//             record's trace and span ids, and when no label gave a level a level / detected_level
//             / severity / lvl key that reads as one does (Loki's own level detection looks there too)
//
// What a stream's labels give its records is checked once per stream, against what the validator
// would refuse in every entry (INPUT_LIMITS: labels, names and service and host values, and lone
// surrogates, which the JSON push can escape) and against the record size limit: a stream over
// them is refused as a whole, not each entry again — a label set of 10 000 under 3 000 entries held
// the event loop for seconds.
//
// Every entry takes one record slot, also a refused one (SKIP), so the accept path counts it and
// the error index finds its stream and entry again: a stream's slots follow each other, one per
// entry in order (a refused stream's all the same), so a slot's entry is its distance from the
// stream's first slot.
import { ILL_FORMED, INPUT_LIMITS, LATEST_EVENT_NS, formatNs, parseSeverity, setOwn } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import type { Ingested } from '../ingest.js'
import { SKIP } from '../ingest.js'
import { parseLabelSet, shown } from './loki-labels.js'
import type { Labels } from './loki-labels.js'

export const SERVICE_LABELS = ['service_name', 'service', 'app', 'application', 'job', 'container', 'container_name'] as const
export const HOST_LABELS = ['host', 'hostname', 'instance', 'node'] as const
export const LEVEL_KEYS = ['level', 'detected_level', 'severity', 'lvl'] as const

/** Loki's message for a stream without labels (validation.MissingLabelsErrorMsg). */
export const MISSING_LABELS = 'error at least one label pair is required per stream'

/** The latest event time Sluice stores, 2096-01-01T00:00:00Z (LATEST_EVENT_NS: ClickHouse's DateTime ends in 2106, less the longest retention). */
export const LATEST_NS = LATEST_EVENT_NS

/** Below this, an epoch-nanosecond string has fewer than the 18 digits Sluice reads as nanoseconds. */
const SHORT_NS = 10n ** 17n

const TRACE_ID = /^[0-9a-fA-F]{32}$/
const SPAN_ID = /^[0-9a-fA-F]{16}$/

/**
 * What a stream's labels give every record of it. One object is shared by the stream's records,
 * and by later requests' through the label cache: never changed once made.
 */
export interface StreamFields {
  readonly service?: string
  readonly host?: string
  readonly level?: string
  readonly resource?: Readonly<Record<string, string>>
  /** Characters of the labels each record carries as text (no fewer than the bytes they take encoded). */
  readonly chars: number
}

/** Loki's wording for a string JSON escaped half a surrogate pair in, as for bytes that are not UTF-8. */
export const LONE_SURROGATE = ILL_FORMED

interface StreamInfo {
  /** The stream's position in the request. */
  index: number
  /** The labels as the client sent them (cut to a readable length). */
  text: string
  entries: number
  /** Its first record slot; the others follow, one per entry. */
  first: number
  /** Why every entry of the stream was refused, if it was. */
  error?: string
}

/** How a record field's errors read to a Loki client. */
const FIELD_NAMES: Record<string, string> = { resource: 'labels', attributes: 'structured metadata', message: 'line', service: 'service label', host: 'host label' }

function fieldName(field: string): string {
  const dot = field.indexOf('.')
  const head = dot === -1 ? field : field.slice(0, dot)
  const name = FIELD_NAMES[head]
  return name === undefined ? field : dot === -1 ? name : `${name}${field.slice(dot)}`
}

const isLevel = (v: string) => parseSeverity(v) !== undefined
const nonBlank = (v: string) => v.trim() !== ''

/** The first of `names` that `labels` has with a value `accept`ed. */
function pick(labels: Labels, names: readonly string[], accept: (v: string) => boolean): string | undefined {
  for (const name of names) {
    const v = labels.get(name)
    if (v !== undefined && accept(v)) return name
  }
  return undefined
}

/**
 * What a stream's labels (or why they could not be read) give its records; an Error refuses the
 * stream: no labels, or labels the validator would refuse in each of its records — more than
 * INPUT_LIMITS.entries besides the service, host and level ones (the record's resource), a name
 * over INPUT_LIMITS.keyChars characters, a service or host value over INPUT_LIMITS.nameChars
 * (trimmed), a value with a lone surrogate. Counted first: a set of 200 000 is refused at its 257th.
 */
export function streamFields(labels: Labels | Error): StreamFields | Error {
  if (labels instanceof Error) return labels
  if (labels.size === 0) return new Error(MISSING_LABELS)
  const service = pick(labels, SERVICE_LABELS, nonBlank)
  const host = pick(labels, HOST_LABELS, nonBlank)
  const level = pick(labels, LEVEL_KEYS, isLevel)
  // The validator trims a service or host name, and so will the record it is in.
  let chars = 0
  for (const name of [service, host]) {
    const length = name === undefined ? 0 : labels.get(name)!.trim().length
    if (length > INPUT_LIMITS.nameChars) return new Error(`label ${name}: a ${name === service ? 'service' : 'host'} name of ${length} characters; at most ${INPUT_LIMITS.nameChars}`)
    chars += length
  }
  let resource: Record<string, string> | undefined
  let entries = 0
  for (const [name, value] of labels) {
    if (!value.isWellFormed()) return new Error(`label ${shown(name)}: ${LONE_SURROGATE}`)
    if (name === service || name === host || name === level) continue
    chars += value.length
    if (++entries > INPUT_LIMITS.entries) return new Error(`at most ${INPUT_LIMITS.entries} labels besides the service, host and level ones`)
    if (name.length > INPUT_LIMITS.keyChars) return new Error(`label ${shown(name)}: a name of ${name.length} characters; at most ${INPUT_LIMITS.keyChars}`)
    chars += name.length
    setOwn((resource ??= {}), name, value)
  }
  return {
    ...(service !== undefined && { service: labels.get(service) }),
    ...(host !== undefined && { host: labels.get(host) }),
    ...(level !== undefined && { level: labels.get(level) }),
    ...(resource !== undefined && { resource }),
    chars,
  }
}

// The protobuf push sends a stream's labels as text, parsed per stream; clients push the same
// streams over and over (Promtail and Alloy one per file and label set, loggers one per level),
// and parsing a label set costs more than a few entries do. So what a text gives is kept, for at
// most CACHED_TEXTS texts of at most CACHED_CHARS characters (emptied when full: a client sending
// ever new label sets costs a parse per stream, as without the cache).
const CACHED_TEXTS = 1024
const CACHED_CHARS = 1024
const FIELDS_BY_TEXT = new Map<string, StreamFields | Error>()

/**
 * streamFields of the label set `text`. `copy()` gives the same text as a string of its own, which
 * is what is kept: `text` may be a slice of a whole request's text, which it would keep alive.
 */
export function streamFieldsOfText(text: string, copy: () => string): StreamFields | Error {
  const cached = FIELDS_BY_TEXT.get(text)
  if (cached !== undefined) return cached
  if (text.length > CACHED_CHARS) return streamFields(labelsOf(text))
  const own = copy()
  const fields = streamFields(labelsOf(own))
  if (FIELDS_BY_TEXT.size >= CACHED_TEXTS) FIELDS_BY_TEXT.clear()
  FIELDS_BY_TEXT.set(own, fields)
  return fields
}

function labelsOf(text: string): Labels | Error {
  try {
    return parseLabelSet(text)
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err))
  }
}

/** `ns` as a record's timestamp: decimal digits when there are 18 or more, else RFC 3339. */
export function timestampText(ns: bigint): string {
  return ns >= SHORT_NS ? ns.toString() : formatNs(ns)
}

// The names structured metadata can give a record more than an attribute by, as kinds: the
// level keys in LEVEL_KEYS' order (the first one that reads as a level counts).
const NONE = 0
const TRACE = 1
const SPAN = 2
const FIRST_LEVEL = 3
const KINDS = new Map<string, number>([
  ['trace_id', TRACE],
  ['span_id', SPAN],
  ...LEVEL_KEYS.map((key, i) => [key, FIRST_LEVEL + i] as const),
])

/**
 * An entry's structured metadata as sent: name/value pairs in order, where a later pair of a name
 * replaces an earlier one. One is filled per entry by a reader (clear, then add) and handed to
 * PushBatch.entry: reused, so that an entry's metadata costs no arrays of its own.
 */
export class Metadata {
  readonly names: string[] = []
  readonly values: string[] = []
  /** Each pair's kind (KINDS), and where each kind last occurs (-1: nowhere). */
  readonly kinds: number[] = []
  readonly last = new Int32Array(FIRST_LEVEL + LEVEL_KEYS.length).fill(-1)
  length = 0
  #special = false

  clear(): void {
    if (this.#special) this.last.fill(-1)
    this.#special = false
    this.length = 0
  }

  add(name: string, value: string): void {
    const kind = KINDS.get(name) ?? NONE
    const i = this.length++
    this.names[i] = name
    this.values[i] = value
    this.kinds[i] = kind
    if (kind !== NONE) {
      this.last[kind] = i
      this.#special = true
    }
  }
}

export class PushBatch {
  /** Sluice records (or SKIP), one per entry of the request, in request order. */
  readonly records: unknown[] = []

  /** `maxRecordBytes`: a stream whose labels alone are more refuses its entries at once (see openStream). */
  constructor(readonly maxRecordBytes = Infinity) {}

  /** records.length, also after releaseRecords. */
  #released: number | undefined

  get #total(): number {
    return this.#released ?? this.records.length
  }

  /**
   * Lets go of the records once `ctx.ingest.records` has read them, so that they do not live
   * through the wait for Kafka (see releaseBody); describe() still works.
   */
  releaseRecords(): void {
    this.#released = this.records.length
    this.records.length = 0
  }
  /** Errors of entries refused before validation, by record index. */
  readonly known: FieldError[] = []
  readonly #streams: StreamInfo[] = []
  #fields: StreamFields = { chars: 0 }

  /**
   * Opens stream `index` of the request with what its labels give (streamFields; an Error when
   * they could not be read) and the number of entries it holds. False when the stream is refused
   * as a whole: its entries are then counted as refused and must not be added. Otherwise each of
   * its entries must be added next, in order, once (entry or badEntry).
   */
  openStream(index: number, fields: StreamFields | Error, text: string, entries: number): boolean {
    const info: StreamInfo = { index, text, entries, first: this.records.length }
    this.#streams.push(info)
    // Every entry's record carries the labels: past the record limit on their own, each would be
    // encoded (at their size) only to be refused.
    if (!(fields instanceof Error) && fields.chars > this.maxRecordBytes) {
      fields = new Error(`the labels are at least ${fields.chars} bytes encoded in each entry's record, over the limit of ${this.maxRecordBytes}`)
    }
    if (fields instanceof Error) {
      info.error = fields.message
      // One error for the stream; its other slots are refused without repeating it.
      this.known.push({ index: this.records.length, field: 'labels', message: info.error })
      for (let j = 0; j < Math.max(entries, 1); j++) this.records.push(SKIP)
      return false
    }
    this.#fields = fields
    return true
  }

  /** A stream that could not be read at all (not an object, no entry list): one refused slot. */
  badStream(index: number, text: string, message: string): void {
    this.openStream(index, new Error(message), text, 0)
  }

  /**
   * Adds the next entry of the open stream: `timestamp` as the record takes it (timestampText;
   * undefined when none was sent: the arrival time is used), `metadata` its structured metadata.
   * A valid `trace_id`/`span_id` becomes the record's, a level the stream's labels did not give
   * becomes its level, the rest its attributes.
   */
  entry(timestamp: string | undefined, line: string, metadata: Metadata | undefined): void {
    const f = this.#fields
    const r: Record<string, unknown> = { message: line }
    if (timestamp !== undefined) r.timestamp = timestamp
    if (f.service !== undefined) r.service = f.service
    if (f.host !== undefined) r.host = f.host
    if (f.level !== undefined) r.level = f.level
    if (f.resource !== undefined) r.resource = f.resource
    if (metadata !== undefined && metadata.length > 0) addMetadata(r, metadata, f.level === undefined)
    this.records.push(r)
  }

  /** Refuses the next entry of the open stream, which could not be read. */
  badEntry(field: string, message: string): void {
    this.known.push({ index: this.records.length, field, message })
    this.records.push(SKIP)
  }

  /** The stream record slot `index` belongs to. */
  #streamOf(index: number): StreamInfo | undefined {
    const streams = this.#streams
    let lo = 0
    let hi = streams.length - 1
    if (hi < 0 || index < 0 || index >= this.#total) return undefined
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (streams[mid]!.first <= index) lo = mid
      else hi = mid - 1
    }
    return streams[lo]
  }

  /**
   * The 400 body for a request with refused entries: one line per error naming its stream and
   * entry (a refused stream once), at most `max` of them, then a count of what was stored.
   */
  describe(result: Ingested, max: number): string {
    const lines: string[] = []
    for (const e of result.errors) {
      if (lines.length === max) {
        lines.push(`… and ${result.errors.length - max} more errors`)
        break
      }
      const info = this.#streamOf(e.index)
      if (info === undefined) {
        lines.push(e.message)
        continue
      }
      const stream = `stream ${info.index}${info.text === '' ? '' : ` ${info.text}`}`
      if (info.error !== undefined) {
        lines.push(`${stream}: ${e.message}${info.entries > 0 ? ` (${info.entries} ${info.entries === 1 ? 'entry' : 'entries'} refused)` : ''}`)
      } else {
        lines.push(`${stream}, entry ${e.index - info.first}: ${e.field === '' ? '' : `${fieldName(e.field)}: `}${e.message}`)
      }
    }
    lines.push(`${result.rejected} of ${this.#total} entries refused; ${result.accepted} stored`)
    return `${lines.join('\n')}\n`
  }
}

/** Writes an entry's structured metadata into its record `r` (see PushBatch.entry). */
function addMetadata(r: Record<string, unknown>, m: Metadata, wantLevel: boolean): void {
  const { names, values, kinds, last } = m
  // Kinds whose pairs are taken, not attributes (a bit each; NONE's is never set).
  let taken = 0
  const trace = last[TRACE]!
  if (trace !== -1 && TRACE_ID.test(values[trace]!)) {
    r.trace_id = values[trace]
    taken |= 1 << TRACE
  }
  const span = last[SPAN]!
  if (span !== -1 && SPAN_ID.test(values[span]!)) {
    r.span_id = values[span]
    taken |= 1 << SPAN
  }
  if (wantLevel) {
    for (let kind = FIRST_LEVEL; kind < last.length; kind++) {
      const at = last[kind]!
      if (at !== -1 && isLevel(values[at]!)) {
        r.level = values[at]
        taken |= 1 << kind
        break
      }
    }
  }
  // Built without the names taken (deleting them would leave an object slow to read).
  let attributes: Record<string, string> | undefined
  for (let i = 0; i < m.length; i++) if (((taken >> kinds[i]!) & 1) === 0) setOwn((attributes ??= {}), names[i]!, values[i]!)
  if (attributes !== undefined) r.attributes = attributes
}
