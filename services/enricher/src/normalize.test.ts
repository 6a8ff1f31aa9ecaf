import type { LogEvent } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { DEFAULT_NORMALIZE_OPTIONS, capAttributes, flattenInto, normalizeEvent, normalizeSeverity, normalizeTimestampNs, truncateUtf8 } from './normalize.js'

const NS = 1_763_899_200_000_000_000n

function event(over: Partial<LogEvent> = {}): LogEvent {
  return {
    id: 'e1', tenant: 'acme', timestamp: NS, observed_timestamp: NS, service: 'api', host: 'web-1',
    severity_text: 'INFO', severity_number: 9, message: 'hello', trace_id: null, span_id: null,
    attributes: {}, resource: {}, source: 'kafka', ...over,
  }
}

describe('normalizeSeverity', () => {
  it('trusts a valid OTel number over the text', () => {
    expect(normalizeSeverity('info', 18)).toEqual({ text: 'ERROR', number: 18 })
  })

  it('falls back to the text, then to INFO', () => {
    expect(normalizeSeverity('warning', 0)).toEqual({ text: 'WARN', number: 13 })
    expect(normalizeSeverity('CRIT', 99)).toEqual({ text: 'FATAL', number: 21 })
    expect(normalizeSeverity('chatty', 0)).toEqual({ text: 'INFO', number: 9 })
  })
})

describe('normalizeTimestampNs', () => {
  it('rescales epoch seconds, ms and µs that a producer put in the ns field', () => {
    expect(normalizeTimestampNs(1_763_899_200n, 1n)).toBe(NS)
    expect(normalizeTimestampNs(1_763_899_200_000n, 1n)).toBe(NS)
    expect(normalizeTimestampNs(1_763_899_200_000_000n, 1n)).toBe(NS)
    expect(normalizeTimestampNs(NS + 5n, 1n)).toBe(NS + 5n)
  })

  it('uses the observed time when the event time is missing', () => {
    expect(normalizeTimestampNs(0n, NS)).toBe(NS)
  })
})

describe('truncateUtf8', () => {
  it('cuts on a character boundary and reports the cut', () => {
    expect(truncateUtf8('héllo wörld', 7)).toEqual({ text: 'héllo ', truncated: true })
    expect(truncateUtf8('€€€', 7)).toEqual({ text: '€€', truncated: true })
    expect(truncateUtf8('😀x', 3)).toEqual({ text: '', truncated: true })
    expect(truncateUtf8('short', 100)).toEqual({ text: 'short', truncated: false })
  })
})

describe('flattenInto', () => {
  it('flattens nested objects into dotted keys and keeps arrays as JSON', () => {
    const out: Record<string, string> = { kept: 'original' }
    flattenInto(out, { http: { status: 500, route: '/x' }, tags: ['a', 'b'], ok: true, none: null, kept: 'new' }, 4)
    expect(out).toEqual({ kept: 'original', 'http.status': '500', 'http.route': '/x', tags: '["a","b"]', ok: 'true', none: '' })
  })

  it('stops flattening at the depth limit', () => {
    const out: Record<string, string> = {}
    flattenInto(out, { a: { b: { c: 1 } } }, 2)
    expect(out).toEqual({ 'a.b': '{"c":1}' })
  })
})

describe('capAttributes', () => {
  it('caps entries and value length, and drops a key too long rather than cutting it (two would become one)', () => {
    const o = { ...DEFAULT_NORMALIZE_OPTIONS, maxAttributes: 2, maxAttributeKeyChars: 3, maxAttributeValueChars: 4 }
    expect(capAttributes({ alpha: '123456', b: '123456', c: 'y', d: 'z' }, o)).toEqual({ attributes: { b: '1234', c: 'y' }, truncated: true })
    expect(capAttributes({ alphaA: 'a', alphaB: 'b' }, { ...o, maxAttributeKeyChars: 5 })).toEqual({ attributes: {}, truncated: true })
    expect(capAttributes({ a: '1' }, o)).toEqual({ attributes: { a: '1' }, truncated: false })
  })
})

describe('normalizeEvent', () => {
  it('trims and bounds service and host names', () => {
    const n = normalizeEvent(event({ service: '  checkout  ', host: `  ${'h'.repeat(300)} ` }))
    expect(n.event.service).toBe('checkout')
    expect(n.event.host).toHaveLength(256)
    expect(normalizeEvent(event({ service: '   ', host: ' ' })).event).toMatchObject({ service: 'unknown', host: null })
  })

  it('keeps whole what the gateway accepts: 256 attributes of 256-character keys, a 256-character service', () => {
    const attributes = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`${String(i).padStart(3, '0')}${'k'.repeat(253)}`, 'v']))
    const n = normalizeEvent(event({ attributes, service: 's'.repeat(256) }))
    expect(n.event.attributes).toEqual(attributes)
    expect(n.event.service).toHaveLength(256)
    expect(n.truncated).toBe(false)
  })

  it('takes a time from the gateway or a connector as it is (1970 too); rescales only what was produced to Kafka directly', () => {
    const observed = 1_763_899_200_000_000_000n
    expect(normalizeEvent(event({ source: 'http', timestamp: 0n, observed_timestamp: observed })).event.timestamp).toBe(0n)
    expect(normalizeEvent(event({ source: 'otlp', timestamp: 1n, observed_timestamp: observed })).event.timestamp).toBe(1n)
    expect(normalizeEvent(event({ source: 'syslog', timestamp: 99_999_999_999_999_999n, observed_timestamp: observed })).event.timestamp).toBe(99_999_999_999_999_999n)
    expect(normalizeEvent(event({ source: 'kafka', timestamp: 0n, observed_timestamp: observed })).event.timestamp).toBe(observed)
    expect(normalizeEvent(event({ source: 'kafka', timestamp: 1_763_899_200_000n, observed_timestamp: observed })).event.timestamp).toBe(observed)
  })

  it('truncates an over-long message and flags it', () => {
    const n = normalizeEvent(event({ message: 'x'.repeat(100) }), { ...DEFAULT_NORMALIZE_OPTIONS, maxMessageBytes: 10 })
    expect(n.event.message).toBe('x'.repeat(10))
    expect(n.truncated).toBe(true)
  })

  it('normalises the level and leaves the input untouched', () => {
    const input = event({ severity_text: 'Warning', severity_number: 0 })
    const n = normalizeEvent(input)
    expect(n.event).toMatchObject({ severity_text: 'WARN', severity_number: 13 })
    expect(input.severity_text).toBe('Warning')
    expect(n.truncated).toBe(false)
  })
})
