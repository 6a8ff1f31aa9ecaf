// Given a request's defaults, toRecord makes most documents into LogEvents itself; the validator
// stays the authority. Both are given the same generated documents (fast-check, fixed seed) and
// must agree: the event toRecord makes is the one validateLogInput makes of its record.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { validateLogInput } from '@sluice/core'
import { toRecord } from './elastic-map.js'
import type { EventDefaults } from '../ingest.js'

const DEFAULTS: EventDefaults = { tenant: 'acme', source: 'http', observedNs: 1_764_000_000_123_456_789n }

const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined, freq: 3 })
const timestamp = fc.oneof(
  { weight: 4, arbitrary: fc.date({ min: new Date('1971-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()) },
  fc.date({ min: new Date('1971-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-11-30T12:00:00.123456789+02:00', '2026-11-30 12:00:00', '1764000000', '1764000000123', 1764000000.5, 1764000000123, 'yesterday', '', -1, true, ['2026-11-30T12:00:00Z']),
  // Around the latest time storage keeps (2096-01-01T00:00:00Z).
  fc.constantFrom('2096-01-01T00:00:00Z', '2096-01-01T00:00:00.000000001Z', '3976214400000000000', '3976214400000000001', 3_976_214_400, 3_976_214_401),
)
const level = fc.constantFrom('info', 'INFO', 'warn', 'Warning', 'ERR', 'error3', 'I', 30, 50, 9, 0, '13', 'bogus', '', 17.5, true)
const name = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('api', ' api ', 'db-1') }, { weight: 1, arbitrary: fc.constantFrom('', '  ', 's'.repeat(256), 's'.repeat(257), ` ${'h'.repeat(256)} `, 7) })
const hexId = (n: number) => fc.oneof({ weight: 4, arbitrary: fc.stringMatching(new RegExp(`^[0-9a-fA-F]{${n}}$`)) }, { weight: 1, arbitrary: fc.constantFrom('', 'xyz', 'A'.repeat(n + 1), 42) })
const message = fc.oneof({ weight: 8, arbitrary: fc.string({ maxLength: 30 }) }, { weight: 1, arbitrary: fc.constantFrom(12, false, ['a', 'b']) })

// Documents as shippers write them: ECS nested or dotted, Fluent Bit's `log`, pino's `msg`,
// syslog-ng's capitals, and fields of their own.
const document = fc
  .record({
    messageField: fc.constantFrom('message', 'message', 'log', 'msg', 'MESSAGE'),
    message,
    nested: fc.boolean(),
    time: maybe(fc.tuple(fc.constantFrom('@timestamp', 'timestamp', 'time'), timestamp)),
    level: maybe(fc.tuple(fc.constantFrom('log.level', 'level', 'PRIORITY'), level)),
    service: maybe(fc.tuple(fc.constantFrom('service.name', 'service', 'app', 'PROGRAM'), name)),
    host: maybe(fc.tuple(fc.constantFrom('host.name', 'hostname', 'HOST'), name)),
    trace: maybe(fc.tuple(fc.constantFrom('trace.id', 'trace_id'), hexId(32))),
    span: maybe(fc.tuple(fc.constantFrom('span.id', 'span_id'), hexId(16))),
    extra: fc.dictionary(fc.constantFrom('user', 'http.method', 'count', 'ok', 'tags', 'severity_number', '__proto__', 'log.level'), fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 })), { maxKeys: 4 }),
  })
  .map((d) => {
    const doc: Record<string, unknown> = Object.create(null)
    for (const [k, v] of Object.entries(d.extra)) Object.defineProperty(doc, k, { value: v, enumerable: true, writable: true, configurable: true })
    doc[d.messageField] = d.message
    for (const field of [d.time, d.level, d.service, d.host, d.trace, d.span]) {
      if (field === undefined) continue
      const [key, value] = field
      const dot = key.indexOf('.')
      // ECS nested ({"log":{"level":…}}) or dotted ({"log.level":…}).
      if (d.nested && dot > 0) doc[key.slice(0, dot)] = { ...(doc[key.slice(0, dot)] as object), [key.slice(dot + 1)]: value }
      else doc[key] = value
    }
    return JSON.parse(JSON.stringify(doc)) as Record<string, unknown>
  })
const id = fc.oneof({ weight: 10, arbitrary: fc.constantFrom('0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b', 'doc-1') }, { weight: 1, arbitrary: fc.constantFrom('', 'i'.repeat(128), 'i'.repeat(129)) })

describe('toRecord with the request defaults', () => {
  it('makes the event the validator makes of its record, and leaves it the records it cannot vouch for', () => {
    const seen = { events: 0, left: 0, refusedByMapping: 0 }
    fc.assert(
      fc.property(document, id, (doc, docId) => {
        const slow = toRecord(structuredClone(doc), docId, 'logs-app', undefined)
        const fast = toRecord(structuredClone(doc), docId, 'logs-app', DEFAULTS)
        if (!slow.ok) {
          seen.refusedByMapping++
          expect(fast).toEqual(slow)
          return
        }
        expect(fast.ok).toBe(true)
        if (!fast.ok) return
        const validated = validateLogInput(slow.doc.record, 0, DEFAULTS)
        if (fast.doc.event === undefined) {
          seen.left++
          expect(fast.doc.record).toEqual(slow.doc.record)
          return
        }
        seen.events++
        expect(validated).toEqual({ ok: true, event: fast.doc.event.event })
      }),
      { seed: 35, numRuns: 4000 },
    )
    expect(seen.events).toBeGreaterThan(1000)
    expect(seen.left).toBeGreaterThan(200)
    expect(seen.refusedByMapping).toBeGreaterThan(50)
  })

  it('leaves a pino record under msg, a time the validator refuses and a long id to the validator, which names them', () => {
    const pino = toRecord({ msg: 'm', level: 30 }, 'i', 'x', DEFAULTS)
    expect(pino.ok && pino.doc.event).toBeUndefined()
    expect(pino.ok && validateLogInput(pino.doc.record, 0, DEFAULTS)).toMatchObject({ ok: true, event: { severity_text: 'INFO', message: 'm' } })

    const badTime = toRecord({ message: 'm', '@timestamp': 'yesterday' }, 'i', 'x', DEFAULTS)
    expect(badTime.ok && badTime.doc.event).toBeUndefined()
    expect(badTime.ok && validateLogInput(badTime.doc.record, 0, DEFAULTS)).toMatchObject({ ok: false, errors: [{ field: 'timestamp' }] })

    // 2096-01-01T00:00:00Z is the latest time storage keeps: a nanosecond later is the validator's to refuse.
    const latest = toRecord({ message: 'm', '@timestamp': '2096-01-01T00:00:00Z' }, 'i', 'x', DEFAULTS)
    expect(latest.ok && latest.doc.event?.event.timestamp).toBe(3_976_214_400_000_000_000n)
    const late = toRecord({ message: 'm', '@timestamp': '2096-01-01T00:00:00.000000001Z' }, 'i', 'x', DEFAULTS)
    expect(late.ok && late.doc.event).toBeUndefined()
    expect(late.ok && validateLogInput(late.doc.record, 0, DEFAULTS)).toMatchObject({
      ok: false,
      errors: [{ field: 'timestamp', message: expect.stringContaining('is after 2096-01-01T00:00:00Z, the latest time storage keeps') }],
    })

    const longId = toRecord({ message: 'm' }, 'i'.repeat(129), 'x', DEFAULTS)
    expect(longId.ok && longId.doc.event).toBeUndefined()

    const plain = toRecord({ message: 'm', 'log.level': 'Warning', '@timestamp': '2026-11-30T12:00:00.5Z', 'service.name': ' api ' }, 'i', 'x', DEFAULTS)
    expect(plain.ok && plain.doc.event?.event).toMatchObject({ id: 'i', severity_text: 'WARN', service: 'api', timestamp: BigInt(Date.parse('2026-11-30T12:00:00Z')) * 1_000_000n + 500_000_000n, attributes: { 'log.level': 'Warning' }, resource: { 'elasticsearch.index': 'x' } })
  })
})

describe('toRecord refuses what cannot be stored', () => {
  it('refuses a string or field name that is not well-formed Unicode, naming the field (the validator does not see most documents)', () => {
    const lone = JSON.parse('"a \\ud800 b"') as string
    expect(toRecord({ message: lone }, 'i', 'x', DEFAULTS)).toEqual({ ok: false, reason: expect.stringMatching(/^failed to parse field \[message\]: the value is not valid Unicode/) })
    expect(toRecord({ message: 'm', service: { name: lone } }, 'i', 'x', DEFAULTS)).toEqual({ ok: false, reason: expect.stringContaining('[service.name]') })
    expect(toRecord({ message: 'm', '@timestamp': lone }, 'i', 'x')).toMatchObject({ ok: false })
    expect(toRecord({ message: 'm', user: { [lone]: 'v' } }, 'i', 'x', DEFAULTS)).toEqual({ ok: false, reason: expect.stringMatching(/^failed to parse: a field name is not valid Unicode/) })
    // A pair is a character; an array is stored as JSON, which escapes a lone surrogate.
    const fine = toRecord({ message: JSON.parse('"\\ud83d\\ude00"') as string, tags: [lone] }, 'i', 'x', DEFAULTS)
    expect(fine.ok && fine.doc.event?.event).toMatchObject({ message: '😀', attributes: { tags: '["a \\ud800 b"]' } })
  })

  it('names a long field in a mapping error by its first characters only', () => {
    const deep = JSON.parse('{"a":'.repeat(25) + '1' + '}'.repeat(25)) as Record<string, unknown>
    const result = toRecord({ message: 'm', ['k'.repeat(100_000)]: deep }, 'i', 'x')
    expect(result.ok).toBe(false)
    expect(!result.ok && result.reason.length).toBeLessThan(400)
  })
})
