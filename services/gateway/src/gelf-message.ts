// One GELF message (Graylog Extended Log Format 1.1) read into a record of Sluice's JSON shape. A
// message is a JSON object:
//   short_message  the message (required, text that is not empty)
//   full_message   the attribute full_message (a stack trace, say)
//   host           the host
//   timestamp      seconds since the epoch, a fraction allowed: a number to the microsecond (what a
//                  double holds of a time today), text to the nanosecond; absent: the arrival time
//   level          a syslog severity 0–7 (0 emerg … 3 err … 6 info, 7 debug); a level name is read
//                  too; absent: INFO, Sluice's default, as Graylog stores none
//   facility, line, file   attributes (deprecated in 1.1, still sent)
//   _name          an additional field: the attribute `name`, so `_service`, `_app` and Docker's
//                  `_container_name` name the service as they do in a document (elastic-map.ts);
//                  one whose name the fields above took keeps its underscore (`_message`); a field
//                  the specification does not name is an attribute as it is (`_message` for a
//                  `message`); of two fields of one name (`_user`, `user`) the first keeps it
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
/** The document fields the specification's fields become: an additional field of such a name keeps its underscore. */
const TAKEN = new Set<string>(['message', 'full_message', 'host.name', 'level', 'facility', 'line', 'file', 'timestamp'])

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

/**
 * Seconds since the epoch in nanoseconds: a number to the microsecond (as far as a double holds a
 * time of today: 1e-7 s), its text to the nanosecond, from its decimal digits.
 */
export function secondsToNs(v: unknown): bigint | undefined {
  if (typeof v === 'number') {
    if (!(v >= 0 && v < 1e11)) return undefined
    const ns = BigInt(Math.round(v * 1e6)) * 1000n
    return ns <= LATEST_EVENT_NS ? ns : undefined
  }
  const m = typeof v === 'string' ? /^\s*(\d{1,12})(?:\.(\d*))?\s*$/.exec(v) : null
  if (!m) return undefined
  const ns = BigInt(m[1]!) * 1_000_000_000n + BigInt((m[2] ?? '').slice(0, 9).padEnd(9, '0'))
  return ns <= LATEST_EVENT_NS ? ns : undefined
}

const SPECIFIED = new Set(['short_message', 'host', 'level', 'full_message', 'facility', 'line', 'file', 'timestamp', 'version'])

/**
 * The document name of a message's field other than the specification's: an additional field's
 * without its underscore, unless the specification's fields take that name (`_message` stays
 * `_message`), and another's as it is, or with an underscore where theirs take it (a `message`
 * beside short_message is `_message`). Messages repeat their field names: the names are kept (up
 * to NAMES_KEPT), so a message's fields are stored under the same strings each time rather than
 * under new copies to hash.
 */
const NAMES_KEPT = 4096
const names = new Map<string, string>()
function fieldName(key: string): string {
  let name = names.get(key)
  if (name !== undefined) return name
  const additional = key.length > 1 && key.charCodeAt(0) === 95 /* _ */
  name = additional ? (TAKEN.has(key.slice(1)) ? key : key.slice(1)) : TAKEN.has(key) ? `_${key}` : key
  if (names.size >= NAMES_KEPT) names.clear()
  names.set(key, name)
  return name
}

/** Sets `key` on `doc`, a `__proto__` too (as a field, not the prototype). */
function set(doc: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(doc, key, { value, enumerable: true, writable: true, configurable: true })
  else doc[key] = value
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
  const ts = v.timestamp
  if (ts !== undefined && ts !== null) {
    const ns = secondsToNs(ts)
    if (ns === undefined) return { ok: false, reason: `timestamp: expected seconds since the epoch (a fraction allowed, before 2096), got ${JSON.stringify(ts).slice(0, 60)}` }
    timestampNs = ns
  }
  // One pass over the message's fields, in its order: the specification's to their document
  // names; then the others, additional ones without their underscore, the rest as they are.
  const doc: Record<string, unknown> = {}
  let others = 0
  for (const key in v) {
    const value = v[key]
    if (value === undefined || value === null) continue
    switch (key) {
      case 'short_message':
        doc.message = value
        continue
      case 'host':
        doc['host.name'] = value
        continue
      case 'level': {
        // A severity number as its level; another value is read as a document's level is (a name, or an attribute).
        const severity = typeof value === 'number' || (typeof value === 'string' && value.length === 1) ? severityFromSyslog(Number(value)) : undefined
        doc.level = severity ? severity.text : value
        continue
      }
      case 'full_message':
      case 'facility':
      case 'line':
      case 'file':
        doc[key] = value
        continue
      case 'timestamp':
      case 'version':
        continue
    }
    others++
  }
  // After the specification's fields, which an additional one named as theirs does not displace.
  if (others > 0) {
    for (const key in v) {
      if (SPECIFIED.has(key)) continue
      const value = v[key]
      if (value === undefined || value === null) continue
      // Two fields of one name (`_user` and `user`): the first keeps it, the second goes under
      // its own key, or (a field named as it was sent) with an underscore.
      const name = fieldName(key)
      const second = name === key ? `_${key}` : key
      if (!Object.hasOwn(doc, name)) set(doc, name, value)
      else if (!Object.hasOwn(doc, second)) set(doc, second, value)
    }
  }
  return mapDocument(doc, id, NO_RESOURCE, d, { timestampNs })
}
