import { readFileSync } from 'node:fs'
import type { LogEvent } from '@sluice/core'
import { describe, expect, it } from 'vitest'
import { createEnricher } from './enrich.js'
import type { EnrichedLog } from './model.js'

const NS = 1_763_899_200_000_000_000n

function event(message: string, over: Partial<LogEvent> = {}): LogEvent {
  return {
    id: 'e1', tenant: 'acme', timestamp: NS, observed_timestamp: NS, service: 'checkout', host: 'web-1',
    severity_text: 'INFO', severity_number: 9, message, trace_id: null, span_id: null,
    attributes: {}, resource: { 'k8s.namespace.name': 'shop' }, source: 'http', ...over,
  }
}

describe('enrich', () => {
  it('enriches a JSON log: level, fields, trace context, redaction, template and category', () => {
    const { enrich } = createEnricher()
    const out = enrich(
      event(
        '{"level":"error","msg":"payment failed for jane@example.com: card_declined","user":{"id":"u-42"},"session_id":"s-9","duration_ms":812,"code":"card_declined","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}',
        { attributes: { region: 'eu-west-1' } },
      ),
    )
    expect(out).toMatchObject({
      level: 'ERROR', severity_text: 'ERROR', severity_number: 17,
      category: 'payment', is_error: true, classifier: 'rules', parsed_format: 'json',
      user_id: 'u-42', session_id: 's-9', duration_ms: 812, error_code: 'card_declined', http_status: null,
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7',
      template: 'payment failed for [REDACTED_EMAIL]: card_declined', redacted: true, truncated: false,
    })
    expect(out.message).not.toContain('jane@example.com')
    expect(out.attributes).toMatchObject({ region: 'eu-west-1', 'user.id': 'u-42', msg: 'payment failed for [REDACTED_EMAIL]: card_declined' })
    expect(out.pattern_id).toMatch(/^[0-9a-f]{16}$/)
    expect(out.resource).toEqual({ 'k8s.namespace.name': 'shop' })
  })

  it('redacts attribute names too: a JSON body keyed by email stores no email', () => {
    const { enrich } = createEnricher()
    const out = enrich(event('{"msg":"quota","quota":{"jane@example.com":"12","bob@example.com":"3"}}', { attributes: { 'seen.by.ann@example.com': 'yes' } }))
    expect(JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).not.toMatch(/@example\.com/)
    expect(out.redacted).toBe(true)
    // An email eats the dotted names around it (`quota.jane` could be its local part); each value is kept.
    expect(Object.values(out.attributes).sort()).toEqual(['12', '3', 'quota', 'yes'])
  })

  it('enriches an nginx access line by route, status and request time', () => {
    const { enrich } = createEnricher()
    const line = (id: number, status: number) => `10.0.0.5 - - [23/Nov/2025:12:00:00 +0000] "GET /api/orders/${id} HTTP/1.1" ${status} 31 "-" "curl/8.5.0" 0.051`
    const a = enrich(event(line(1, 503)))
    const b = enrich(event(line(2, 200)))
    expect(a).toMatchObject({ parsed_format: 'access', template: 'GET /api/orders/<*>', http_status: 503, duration_ms: 51, category: 'dependency', is_error: true, level: 'ERROR' })
    expect(b).toMatchObject({ http_status: 200, category: 'unknown', is_error: false, level: 'INFO' })
    expect(b.pattern_id).toBe(a.pattern_id)
  })

  it('fills host, service and time from a syslog line when the record lacks them', () => {
    const { enrich } = createEnricher()
    const out = enrich(event('<38>Nov 23 11:58:00 bastion sshd[901]: Failed password for invalid user admin from 203.0.113.9 port 53122 ssh2', { service: 'unknown', host: null }))
    expect(out).toMatchObject({
      parsed_format: 'syslog', host: 'bastion', service: 'sshd', level: 'INFO', category: 'auth', is_error: false,
      timestamp: NS - 120_000_000_000n, template: 'Failed password for invalid user admin from <IP> port <NUM> ssh2',
    })
  })

  it('reads a logger header (time, level, thread, component) and mines only the message after it', () => {
    const { enrich } = createEnricher()
    const line = (n: number, ms: number) => `2015-10-18 18:01:4${n},978 WARN [main] org.example.Allocator: Reduce slow start threshold not met. completedMapsForReduceSlowstart ${ms}`
    const a = enrich(event(line(7, 2), { severity_text: 'INFO', severity_number: 9 }))
    const b = enrich(event(line(8, 3)))
    expect(a).toMatchObject({
      parsed_format: 'header', level: 'WARN', timestamp: 1445191307978000000n,
      attributes: { component: 'org.example.Allocator', thread: 'main' },
      template: 'Reduce slow start threshold not met. completedMapsForReduceSlowstart <NUM>',
    })
    expect(b.pattern_id).toBe(a.pattern_id)
    expect(a.message).toBe(line(7, 2))
  })

  it('never throws on a body nested deeper than JSON.stringify can write, and keeps fields named like Object methods', () => {
    const { enrich } = createEnricher()
    const deep = enrich(event(`{"msg":"deep","a":${'['.repeat(5000)}${']'.repeat(5000)}}`))
    expect(deep.attributes.a).toBe('[nested too deeply]')
    const named = enrich(event('{"msg":"hi","constructor":"c","toString":"t","valueOf":"v","hasOwnProperty":"h"}'))
    expect(named.attributes).toMatchObject({ constructor: 'c', toString: 't', valueOf: 'v', hasOwnProperty: 'h' })
  })

  it('cuts no character in half: a value or a name cut at its bound stays well-formed', () => {
    const { enrich } = createEnricher()
    const out = enrich(event('x', { attributes: { k: `${'a'.repeat(4095)}😀` } }))
    expect(out.attributes.k).toBe('a'.repeat(4095))
    expect(out.truncated).toBe(true)
    const app = enrich(event(`<13>1 2026-11-23T12:00:00Z host ${'s'.repeat(255)}😀 - - - hello`, { service: 'unknown' }))
    expect(app.service.isWellFormed()).toBe(true)
  })

  it('takes no header time before 1970 either: the record keeps its own', () => {
    const { enrich } = createEnricher()
    const e = event('1.2.3.4 - - [10/Oct/1900:13:55:36 -0700] "GET / HTTP/1.1" 200 1')
    expect(enrich(e).timestamp).toBe(e.timestamp)
  })

  it('takes no header time storage cannot keep (after 2096): the record keeps its own', () => {
    const { enrich } = createEnricher()
    const e = event('2200-10-18 18:01:47,978 WARN [main] org.example.Allocator: far ahead')
    const out = enrich(e)
    expect(out.parsed_format).toBe('header')
    expect(out.timestamp).toBe(e.timestamp)
  })

  it('keeps the record’s own non-default level over the body’s', () => {
    const { enrich } = createEnricher()
    expect(enrich(event('level=error msg="retrying" attempt=2', { severity_text: 'WARN', severity_number: 13 })).level).toBe('WARN')
  })

  it('mines plain text into a shared template as messages arrive', () => {
    const { enrich, miner } = createEnricher()
    enrich(event('Connection reset by peer while reading from 10.0.0.12:6379 (attempt 1)'))
    const out = enrich(event('Connection reset by peer while reading from 10.0.0.13:6379 (attempt 2)'))
    expect(out).toMatchObject({ template: 'Connection reset by peer while reading from <IP> (attempt <NUM>)', category: 'network', is_error: true, parsed_format: null })
    expect(miner.clusterCount).toBe(1)
  })

  it('truncates a huge message, and bounds names', () => {
    const { enrich } = createEnricher({ normalize: { maxMessageBytes: 64 } })
    const out = enrich(event(`boom ${'x'.repeat(10_000)}`, { service: ` ${'s'.repeat(500)} ` }))
    expect(out.message.length).toBe(64)
    expect(out.service.length).toBe(256)
    expect(out.truncated).toBe(true)
  })

  it('accepts a custom rules file and rejects an invalid one at construction', () => {
    const { enrich } = createEnricher({ rules: { rules: [{ id: 'all-checkout', category: 'payment', services: ['checkout'] }] } })
    expect(enrich(event('hello')).category).toBe('payment')
    expect(() => createEnricher({ rules: { rules: [{ id: 'x', category: 'nope', message: 'a' }] } })).toThrow(/category/)
  })

  it('can switch body parsing and redaction off', () => {
    const { enrich } = createEnricher({ parseBodies: false, redact: { email: false } })
    expect(enrich(event('{"msg":"mail a@example.com"}'))).toMatchObject({ parsed_format: null, redacted: false, attributes: {} })
  })
})

describe('enriched-log.avsc', () => {
  type AvroField = { name: string; type: unknown; default?: unknown }
  const schema = JSON.parse(readFileSync(new URL('../../../schemas/enriched-log.avsc', import.meta.url), 'utf8')) as { fields: AvroField[] }
  const raw = JSON.parse(readFileSync(new URL('../../../schemas/log-event.avsc', import.meta.url), 'utf8')) as { fields: AvroField[] }

  const sample: EnrichedLog = createEnricher().enrich(event('{"level":"warn","msg":"slow","status":504,"duration":"1.5s"}'))

  it('has exactly the EnrichedLog fields, the LogEvent ones first and unchanged', () => {
    expect(schema.fields.map((f) => f.name)).toEqual(Object.keys(sample))
    expect(schema.fields.slice(0, raw.fields.length)).toEqual(
      raw.fields.map((f) => expect.objectContaining({ name: f.name, type: f.type })),
    )
  })

  it('declares null only where the record can hold null, with a null default', () => {
    const nullable = new Set(['host', 'trace_id', 'span_id', 'http_status', 'duration_ms', 'user_id', 'session_id', 'error_code', 'parsed_format'])
    for (const f of schema.fields) {
      const isUnion = Array.isArray(f.type) && f.type[0] === 'null'
      expect([f.name, isUnion]).toEqual([f.name, nullable.has(f.name)])
      if (isUnion) expect(f.default).toBeNull()
    }
  })

  it('types every value the way Avro will encode it', () => {
    const avroType = (t: unknown): string => (Array.isArray(t) ? avroType(t[1]) : typeof t === 'object' && t !== null ? String((t as { type: string }).type) : String(t))
    const jsType: Record<string, string> = { string: 'string', int: 'number', double: 'number', long: 'bigint', boolean: 'boolean', map: 'object', array: 'object' }
    for (const f of schema.fields) {
      const v: unknown = sample[f.name as keyof EnrichedLog]
      if (v !== null) expect([f.name, typeof v]).toEqual([f.name, jsType[avroType(f.type)]])
    }
  })
})
