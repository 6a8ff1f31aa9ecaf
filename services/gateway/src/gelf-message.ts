// One GELF message (Graylog Extended Log Format 1.1) read into a record of Sluice's JSON shape. A
// message is a JSON object:
//   short_message  the message (required, text that is not empty)
//   full_message   the attribute full_message (a stack trace, say)
//   host           the host
//   timestamp      seconds since the epoch, a fraction allowed (absent: the time it arrived)
//   level          a syslog severity 0–7 (0 emerg … 3 err … 6 info, 7 debug); a level name is read
//                  too; absent: INFO, Sluice's default, as Graylog stores none
//   facility, line, file   attributes (deprecated in 1.1, still sent)
//   _name          an additional field: the attribute `name`, so `_service`, `_app` and Docker's
//                  `_container_name` name the service as they do in a document (elastic-map.ts);
//                  one whose name the fields above took keeps its underscore (`_message`); a field
//                  the specification does not name is an attribute as it is
// version is not kept. The rest of the mapping (nested values, bounds, well-formed text) is an
// Elasticsearch document's (mapDocument), so a GELF message and a document with the same fields
// are the same record.
//
// On the wire a message may be compressed, which its first bytes tell (Graylog reads it so, whatever
// a Content-Encoding header says): gzip (1f 8b), zlib (78, a valid header checksum) or plain JSON.
import { gunzipSync, inflateSync } from 'node:zlib'
import { LATEST_EVENT_NS, errorMessage, severityFromSyslog } from '@sluice/core'
import type { EventDefaults } from './ingest.js'
import { isPlainObject } from './protocols/elastic-bulk.js'
import { mapDocument } from './protocols/elastic-map.js'
import type { MapResult } from './protocols/elastic-map.js'

const NO_RESOURCE: Readonly<Record<string, string>> = Object.freeze({})
/** Fields of the GELF specification, and the document fields they become. */
const FIELDS = { short_message: 'message', full_message: 'full_message', host: 'host.name', level: 'level', facility: 'facility', line: 'line', file: 'file' } as const
const TAKEN = new Set<string>([...Object.values(FIELDS), 'timestamp'])

/** The coding of a payload by its first bytes. */
export function payloadCoding(bytes: Uint8Array): 'gzip' | 'zlib' | 'none' {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) return 'gzip'
  // zlib: CM 8 (deflate) in the low nibble, and the two header bytes a multiple of 31 (RFC 1950).
  if (bytes.length >= 2 && (bytes[0]! & 0x0f) === 8 && ((bytes[0]! << 8) | bytes[1]!) % 31 === 0) return 'zlib'
  return 'none'
}

/** The payload inflated as its first bytes say, at most `maxBytes`; a problem when it does not inflate. */
export function inflatePayload(bytes: Buffer, maxBytes: number): { ok: true; bytes: Buffer } | { ok: false; reason: string } {
  const coding = payloadCoding(bytes)
  if (coding === 'none') return bytes.length > maxBytes ? { ok: false, reason: `${bytes.length} bytes, over ${maxBytes} (GATEWAY_MAX_RECORD_BYTES)` } : { ok: true, bytes }
  try {
    return { ok: true, bytes: (coding === 'gzip' ? gunzipSync : inflateSync)(bytes, { maxOutputLength: maxBytes }) }
  } catch (err) {
    const over = (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
    return { ok: false, reason: over ? `inflates to more than ${maxBytes} bytes (GATEWAY_MAX_RECORD_BYTES)` : `${coding} that does not inflate: ${errorMessage(err)}` }
  }
}

/** Seconds since the epoch (a number, or its text) in nanoseconds, read from the decimal digits (no float rounding). */
export function secondsToNs(v: unknown): bigint | undefined {
  // A number's shortest decimal form is the one it was written in (1764504000.123, not …122999907).
  const text = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : ''
  const m = /^(\d{1,12})(?:\.(\d*))?$/.exec(text)
  if (!m) return undefined
  const ns = BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'))
  return ns <= LATEST_EVENT_NS ? ns : undefined
}

/** The message `text` (JSON) as the record `id`; defaults: the arrival time and the request's tenant and source. */
export function gelfRecord(text: string, id: string, d: EventDefaults): MapResult {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    return { ok: false, reason: `not JSON: ${errorMessage(err)}` }
  }
  if (!isPlainObject(v)) return { ok: false, reason: `a GELF message is a JSON object, not ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}` }
  const short = v.short_message
  if (typeof short !== 'string' || short.trim() === '') return { ok: false, reason: 'short_message: required, text that is not empty' }
  let timestampNs = d.observedNs
  if (v.timestamp !== undefined && v.timestamp !== null) {
    const ns = secondsToNs(v.timestamp)
    if (ns === undefined) return { ok: false, reason: `timestamp: expected seconds since the epoch (a fraction allowed, before 2096), got ${JSON.stringify(v.timestamp).slice(0, 60)}` }
    timestampNs = ns
  }
  const doc: Record<string, unknown> = {}
  for (const [field, to] of Object.entries(FIELDS)) {
    const value = v[field]
    if (value !== undefined && value !== null) doc[to] = value
  }
  // A severity number as its level; another value is read as a document's level is (a name, or an attribute).
  const severity = typeof doc.level === 'number' || (typeof doc.level === 'string' && /^[0-7]$/.test(doc.level)) ? severityFromSyslog(Number(doc.level)) : undefined
  if (severity) doc.level = severity.text
  for (const [key, value] of Object.entries(v)) {
    if (Object.hasOwn(FIELDS, key) || key === 'timestamp' || key === 'version') continue
    // Additional fields without their underscore; a field the specification does not name (some
    // clients send their static fields so) as it is.
    const name = key.length > 1 && key.startsWith('_') ? key.slice(1) : key
    doc[TAKEN.has(name) || Object.hasOwn(doc, name) ? key : name] = value
  }
  return mapDocument(doc, id, NO_RESOURCE, d, { timestampNs })
}
