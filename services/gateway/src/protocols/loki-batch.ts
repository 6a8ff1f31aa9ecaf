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
//   timestamp the entry's time, exact to the nanosecond
//   attributes the structured metadata; `trace_id` / `span_id` with 32 / 16 hex digits become the
//             record's trace and span ids, and when no label gave a level a level / detected_level
//             / severity / lvl key that reads as one does (Loki's own level detection looks there too)
//
// Every entry takes one record slot, also a refused one (SKIP), so the accept path counts it and
// the error index finds its stream and entry again.
import { MAX_TIMESTAMP_NS, formatNs, parseSeverity } from '@sluice/core'
import type { FieldError } from '@sluice/core'
import type { Ingested } from '../ingest.js'
import { SKIP } from '../ingest.js'
import type { Labels } from './loki-labels.js'

export const SERVICE_LABELS = ['service_name', 'service', 'app', 'application', 'job', 'container', 'container_name'] as const
export const HOST_LABELS = ['host', 'hostname', 'instance', 'node'] as const
export const LEVEL_KEYS = ['level', 'detected_level', 'severity', 'lvl'] as const

/** Loki's message for a stream without labels (validation.MissingLabelsErrorMsg). */
export const MISSING_LABELS = 'error at least one label pair is required per stream'

/** The largest event time Sluice stores (an Avro long of nanoseconds: 2262-04-11). */
export const MAX_NS = MAX_TIMESTAMP_NS

/** Below this, an epoch-nanosecond string has fewer than the 18 digits Sluice reads as nanoseconds. */
const SHORT_NS = 10n ** 17n

const TRACE_ID = /^[0-9a-fA-F]{32}$/
const SPAN_ID = /^[0-9a-fA-F]{16}$/

/** What a stream's labels give every record of it. */
interface StreamFields {
  service?: string
  host?: string
  level?: string
  resource?: Record<string, string>
}

interface StreamInfo {
  /** The stream's position in the request. */
  index: number
  /** The labels as the client sent them (cut to a readable length). */
  text: string
  entries: number
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

function pick(labels: Labels, names: readonly string[], accept: (v: string) => boolean = (v) => v.trim() !== ''): string | undefined {
  for (const name of names) {
    const v = labels.get(name)
    if (v !== undefined && accept(v)) {
      labels.delete(name)
      return v
    }
  }
  return undefined
}

const isLevel = (v: string) => parseSeverity(v) !== undefined

export class PushBatch {
  /** Sluice records (or SKIP), one per entry of the request, in request order. */
  readonly records: unknown[] = []
  /** Errors of entries refused before validation, by record index. */
  readonly known: FieldError[] = []
  readonly #streams: StreamInfo[] = []
  readonly #streamOf: number[] = []
  readonly #entryOf: number[] = []
  #fields: StreamFields = {}

  /**
   * Opens stream `index` of the request with its labels (or why they could not be read) and the
   * number of entries it holds. False when the stream is refused as a whole: its entries are then
   * counted as refused and must not be added.
   */
  openStream(index: number, labels: Labels | Error, text: string, entries: number): boolean {
    const info: StreamInfo = { index, text, entries }
    this.#streams.push(info)
    if (labels instanceof Error || labels.size === 0) {
      info.error = labels instanceof Error ? labels.message : MISSING_LABELS
      // One error for the stream; its other slots are refused without repeating it.
      this.known.push({ index: this.records.length, field: 'labels', message: info.error })
      for (let j = 0; j < Math.max(entries, 1); j++) this.#slot(SKIP, j)
      return false
    }
    const rest = new Map(labels)
    const service = pick(rest, SERVICE_LABELS)
    const host = pick(rest, HOST_LABELS)
    const level = pick(rest, LEVEL_KEYS, isLevel)
    this.#fields = {
      ...(service !== undefined && { service }),
      ...(host !== undefined && { host }),
      ...(level !== undefined && { level }),
      ...(rest.size > 0 && { resource: Object.fromEntries(rest) }),
    }
    return true
  }

  /** A stream that could not be read at all (not an object, no entry list): one refused slot. */
  badStream(index: number, text: string, message: string): void {
    this.openStream(index, new Error(message), text, 0)
  }

  /**
   * Adds an entry of the open stream; `ns` undefined means none was sent (arrival time is used).
   * `metadata` is the entry's structured metadata as sent, name/value pairs (a later pair of a
   * name replaces an earlier one): a valid `trace_id`/`span_id` becomes the record's, a level the
   * stream's labels did not give becomes its level, the rest its attributes.
   */
  entry(entry: number, ns: bigint | undefined, line: string, metadata: ReadonlyArray<readonly [string, string]> | undefined): void {
    const f = this.#fields
    const r: Record<string, unknown> = { message: line }
    if (ns !== undefined) r.timestamp = ns >= SHORT_NS ? ns.toString() : formatNs(ns)
    if (f.service !== undefined) r.service = f.service
    if (f.host !== undefined) r.host = f.host
    if (f.level !== undefined) r.level = f.level
    if (f.resource !== undefined) r.resource = f.resource
    if (metadata !== undefined && metadata.length > 0) {
      const valueOf = (name: string): string | undefined => {
        for (let i = metadata.length - 1; i >= 0; i--) if (metadata[i]![0] === name) return metadata[i]![1]
        return undefined
      }
      const traceId = valueOf('trace_id')
      if (traceId !== undefined && TRACE_ID.test(traceId)) r.trace_id = traceId
      const spanId = valueOf('span_id')
      if (spanId !== undefined && SPAN_ID.test(spanId)) r.span_id = spanId
      let levelKey: string | undefined
      if (f.level === undefined) {
        for (const key of LEVEL_KEYS) {
          const v = valueOf(key)
          if (v !== undefined && isLevel(v)) {
            r.level = v
            levelKey = key
            break
          }
        }
      }
      // Built without the names taken (deleting them would leave an object slow to read).
      const attributes: Record<string, string> = {}
      let any = false
      for (const [name, value] of metadata) {
        if (name === levelKey || (name === 'trace_id' && r.trace_id !== undefined) || (name === 'span_id' && r.span_id !== undefined)) continue
        // A name `__proto__` stays a name rather than setting a prototype.
        if (name === '__proto__') Object.defineProperty(attributes, name, { value, enumerable: true, writable: true, configurable: true })
        else attributes[name] = value
        any = true
      }
      if (any) r.attributes = attributes
    }
    this.#slot(r, entry)
  }

  /** Refuses an entry of the open stream that could not be read. */
  badEntry(entry: number, field: string, message: string): void {
    this.known.push({ index: this.records.length, field, message })
    this.#slot(SKIP, entry)
  }

  #slot(record: unknown, entry: number): void {
    this.records.push(record)
    this.#streamOf.push(this.#streams.length - 1)
    this.#entryOf.push(entry)
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
      const info = this.#streams[this.#streamOf[e.index] ?? -1]
      if (info === undefined) {
        lines.push(e.message)
        continue
      }
      const stream = `stream ${info.index}${info.text === '' ? '' : ` ${info.text}`}`
      if (info.error !== undefined) {
        lines.push(`${stream}: ${e.message}${info.entries > 0 ? ` (${info.entries} ${info.entries === 1 ? 'entry' : 'entries'} refused)` : ''}`)
      } else {
        lines.push(`${stream}, entry ${this.#entryOf[e.index] ?? 0}: ${e.field === '' ? '' : `${fieldName(e.field)}: `}${e.message}`)
      }
    }
    lines.push(`${result.rejected} of ${this.records.length} entries refused; ${result.accepted} stored`)
    return `${lines.join('\n')}\n`
  }
}
