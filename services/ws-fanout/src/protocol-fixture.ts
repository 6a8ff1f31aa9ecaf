// Test-only fixture for the stream protocol's bounds (protocol.test.ts, service.test.ts): the
// subscribe message that costs the most bytes while the schema still accepts it, and JSON written
// with every character escaped as \uXXXX, the most bytes an encoder can spend on a message
// without adding whitespace. Nothing here is production code.
import { CATEGORIES } from '@sluice/core'
import { SERVICES_MAX, SERVICES_MAX_CHARS } from './protocol.js'

/**
 * Every field at its longest. Each name costs its characters plus two quotes and a comma, so the
 * most names (SERVICES_MAX) sharing the most characters (SERVICES_MAX_CHARS) cost the most.
 */
export function largestSubscribe() {
  const base = Math.floor(SERVICES_MAX_CHARS / SERVICES_MAX)
  const longer = SERVICES_MAX_CHARS - base * SERVICES_MAX
  const services = Array.from({ length: SERVICES_MAX }, (_, i) => String(i).padStart(i < longer ? base + 1 : base, 's'))
  const category = CATEGORIES.reduce((a, b) => (b.length > a.length ? b : a))
  return {
    type: 'subscribe',
    channels: ['alerts', 'alerts', 'alerts'],
    // A level name may be padded up to 32 characters (the query API trims it too).
    filters: { services, minLevel: 'warn'.padStart(32), category, patternId: '0123456789abcdef', q: 'q'.repeat(1000) },
  }
}

/** JSON with every character of every string, keys too, escaped as \uXXXX (6 bytes each). */
export function escapedJson(value: unknown): string {
  if (typeof value === 'string') return `"${Array.from({ length: value.length }, (_, i) => `\\u${value.charCodeAt(i).toString(16).padStart(4, '0')}`).join('')}"`
  if (Array.isArray(value)) return `[${value.map(escapedJson).join(',')}]`
  if (value !== null && typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${escapedJson(k)}:${escapedJson(v)}`).join(',')}}`
  return JSON.stringify(value)
}
