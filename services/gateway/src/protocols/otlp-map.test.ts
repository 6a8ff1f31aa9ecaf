// mapRecord makes most OTLP records into LogEvents itself; the validator stays the authority. Here
// both are given the same generated records (fast-check, fixed seed) and must agree: the event
// mapRecord makes is the one validateLogInput makes of sluiceRecord's record, a record outside
// the validator's limits goes to the validator as that record, and a resource resourceContext
// refuses (once, for all its records) is one the validator refuses in every record.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { LATEST_EVENT_NS, MAX_TIMESTAMP_NS, validateLogInput } from '@sluice/core'
import { Validated } from '../ingest.js'
import { FieldProblem, KvList, addAttribute, mapRecord, resourceContext, resourceOf, scopeAttributes, sluiceRecord } from './otlp-map.js'
import type { EventDefaults } from '../ingest.js'
import type { AnyValue, KeyValue, OtlpLogRecord } from './otlp-map.js'

const DEFAULTS: EventDefaults = { tenant: 'acme', source: 'otlp', observedNs: 1_764_000_000_123_456_789n }

// Keys around the validator's limits: empty, 256 and 257 characters, and ordinary ones.
const key = fc.oneof(
  { weight: 20, arbitrary: fc.constantFrom('http.method', 'user', 'region', 'k', 'log.level', 'event.name', 'a.b.c') },
  { weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(256), 'y'.repeat(257)) },
)
const anyValue: fc.Arbitrary<AnyValue> = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.boolean(),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
  fc.array(fc.tuple(key, fc.string({ maxLength: 5 })), { maxLength: 3 }).map((e) => new KvList(e)),
)
const attributes = fc.oneof(
  { weight: 20, arbitrary: fc.dictionary(key, fc.string({ maxLength: 30 }), { maxKeys: 8 }) },
  // Around the 256 entries a map may hold.
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 260 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, 'v']))) },
)
const name = fc.oneof({ weight: 10, arbitrary: fc.constantFrom('api', ' api ', 'db-1.internal') }, { weight: 1, arbitrary: fc.constantFrom('', '   ', 's'.repeat(256), 's'.repeat(257), ` ${'h'.repeat(256)} `) })
const resourceAttributes: fc.Arbitrary<KeyValue[]> = fc
  .tuple(fc.option(name), fc.option(name), fc.array(fc.tuple(key, anyValue), { maxLength: 4 }), fc.nat(20))
  .map(([service, host, rest, many]) => [
    ...(service === null ? [] : [['service.name', service] as const]),
    ...(host === null ? [] : [['host.name', host] as const]),
    ...rest,
    ...(many === 20 ? Array.from({ length: 257 }, (_, i) => [`r${i}`, 'v'] as const) : []),
  ])
// Around the latest event time Sluice stores (2096-01-01) and the Int64 bound (2262) beyond it.
const nanos = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0n, '0', 1n, '1', LATEST_EVENT_NS, LATEST_EVENT_NS + 1n, LATEST_EVENT_NS.toString(), (LATEST_EVENT_NS + 1n).toString()) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_TIMESTAMP_NS, MAX_TIMESTAMP_NS + 1n, MAX_TIMESTAMP_NS.toString(), (MAX_TIMESTAMP_NS + 1n).toString()) },
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: LATEST_EVENT_NS }) },
  // Digits as OTLP JSON sends them, of every length (fewer than 18 are read differently).
  { weight: 6, arbitrary: fc.bigInt({ min: 1n, max: LATEST_EVENT_NS }).map(String) },
)
const hex = (n: number) => fc.oneof(fc.constant(''), fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`)))
const record = fc.record({
  timeUnixNano: nanos,
  observedTimeUnixNano: nanos,
  severityNumber: fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 24 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 25, 2.5) }),
  severityText: fc.constantFrom('', 'INFO', 'info', 'WARN2', 'Warning', 'ERR', 'bogus', 'fatal'),
  body: fc.oneof({ weight: 10, arbitrary: fc.string({ maxLength: 40 }) }, { weight: 2, arbitrary: anyValue }, { weight: 1, arbitrary: fc.constant(undefined) }),
  attributes,
  traceId: hex(32),
  spanId: hex(16),
  eventName: fc.constantFrom('', 'login', 'db.query'),
})

/** A fresh copy: the mapping writes into a record's attributes. */
const copy = (r: OtlpLogRecord): OtlpLogRecord => ({ ...r, attributes: { ...r.attributes } })

function outcome(fn: () => unknown): unknown {
  try {
    return fn()
  } catch (err) {
    if (!(err instanceof FieldProblem)) throw err
    return { problem: err.field, message: err.message }
  }
}

describe('mapRecord', () => {
  it('makes the event the validator makes of the same record, and leaves the validator every record outside its limits', () => {
    const seen = { events: 0, records: 0, problems: 0, resources: 0 }
    fc.assert(
      fc.property(resourceAttributes, record, (resAttributes, r) => {
        const checked = resourceContext(resAttributes)
        const res = resourceOf(resAttributes)
        // The resource alone, under a record with nothing wrong in it: refused by resourceContext
        // exactly when the validator refuses it, for a field of the resource.
        const alone = validateLogInput(sluiceRecord(copy(base), res), 0, DEFAULTS)
        if (checked instanceof FieldProblem) {
          seen.resources++
          expect(alone.ok).toBe(false)
          if (!alone.ok) for (const e of alone.errors) expect(e.field).toMatch(/^(resource|service|host)\b/)
          return
        }
        expect(alone.ok).toBe(true)
        expect(checked).toEqual(res)
        const fast = outcome(() => mapRecord(copy(r), res, DEFAULTS))
        const slow = outcome(() => sluiceRecord(copy(r), res))
        if (!(fast instanceof Validated)) {
          // A fault in the record, or a record outside the validator's limits: as without events.
          expect(fast).toEqual(slow)
          if (typeof fast === 'object' && fast !== null && 'problem' in fast) seen.problems++
          else {
            // Only records the validator refuses: no valid one misses the event.
            seen.records++
            expect(validateLogInput(slow, 0, DEFAULTS).ok).toBe(false)
          }
          return
        }
        seen.events++
        expect(validateLogInput(slow, 0, DEFAULTS)).toEqual({ ok: true, event: { ...fast.event, id: expect.any(String) } })
        expect(fast.event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      }),
      { seed: 35, numRuns: 4000 },
    )
    // Every way through was taken, the common one most.
    expect(seen.events).toBeGreaterThan(2000)
    expect(seen.records).toBeGreaterThan(100)
    expect(seen.problems).toBeGreaterThan(100)
    expect(seen.resources).toBeGreaterThan(100)
  })

  it('keeps a record timed 2096-01-01T00:00:00Z, the latest time storage keeps, and refuses one a nanosecond later', () => {
    const res = resourceOf([])
    for (const at of [LATEST_EVENT_NS, LATEST_EVENT_NS.toString()]) {
      expect((mapRecord({ ...copy(base), timeUnixNano: at }, res, DEFAULTS) as Validated).event.timestamp, String(at)).toBe(LATEST_EVENT_NS)
    }
    const after = /is after 2096-01-01T00:00:00Z, the latest time storage keeps \(ClickHouse's DateTime ends in 2106/
    for (const late of [LATEST_EVENT_NS + 1n, (LATEST_EVENT_NS + 1n).toString(), 7_258_118_400_000_000_000n /* 2200 */]) {
      expect(outcome(() => mapRecord({ ...copy(base), timeUnixNano: late }, res, DEFAULTS)), String(late)).toEqual({ problem: 'timeUnixNano', message: expect.stringMatching(after) })
      expect(outcome(() => sluiceRecord({ ...copy(base), timeUnixNano: late }, res)), String(late)).toEqual({ problem: 'timeUnixNano', message: expect.stringMatching(after) })
    }
    // Without timeUnixNano the observed time is the event's, under the same bound.
    expect(outcome(() => mapRecord({ ...copy(base), timeUnixNano: 0n, observedTimeUnixNano: LATEST_EVENT_NS + 1n }, res, DEFAULTS))).toEqual({ problem: 'observedTimeUnixNano', message: expect.stringMatching(after) })
  })

  it('keeps a record at the limits as an event and one past them for the validator, which names the field', () => {
    const res = resourceOf([['service.name', 's'.repeat(256)]])
    expect(resourceContext([['service.name', 's'.repeat(256)]])).toEqual(res)
    const at = mapRecord({ ...copy(base), attributes: { ['k'.repeat(256)]: 'v' } }, res, DEFAULTS)
    expect(at).toBeInstanceOf(Validated)
    expect((at as Validated).event.service).toBe('s'.repeat(256))

    const past = mapRecord({ ...copy(base), attributes: { ['k'.repeat(257)]: 'v' } }, res, DEFAULTS)
    expect(past).not.toBeInstanceOf(Validated)
    expect(validateLogInput(past, 3, DEFAULTS)).toMatchObject({ ok: false, errors: [{ index: 3, field: `attributes.${'k'.repeat(257)}` }] })

    const longService = sluiceRecord(copy(base), resourceOf([['service.name', 's'.repeat(257)]]))
    expect(validateLogInput(longService, 0, DEFAULTS)).toMatchObject({ ok: false, errors: [{ field: 'service' }] })
    expect(resourceContext([['service.name', 's'.repeat(257)]])).toMatchObject({ field: 'resource.attributes.service.name', message: 'expected at most 256 characters, got 257' })
  })
})

const many = (n: number, key = (i: number) => `k${i}`): KeyValue[] => Array.from({ length: n }, (_, i) => [key(i), 'v'])

describe('resourceContext and scopeAttributes', () => {
  it('refuse a resource over the validator’s limits once, for all its records, counting no further than the limit', () => {
    expect(resourceContext(many(256))).not.toBeInstanceOf(FieldProblem)
    // service.name and host.name are not resource entries.
    expect(resourceContext([...many(256), ['service.name', 'api'], ['host.name', 'h']])).not.toBeInstanceOf(FieldProblem)
    const over = resourceContext(many(10_000))
    expect(over).toBeInstanceOf(FieldProblem)
    expect(over).toMatchObject({ field: 'resource.attributes', message: 'at most 256 entries' })
    expect(resourceContext([['k'.repeat(257), 'v']])).toMatchObject({ field: `resource.attributes.${'k'.repeat(180)}…`, message: 'expected a key of 1-256 characters, got 257' })
    expect(resourceContext([['', 'v']])).toMatchObject({ field: 'resource.attributes', message: 'expected a key of 1-256 characters, got 0' })
    expect(resourceContext([['host.name', ` ${'h'.repeat(257)} `]])).toMatchObject({ field: 'resource.attributes.host.name' })
  })

  it('refuse a scope whose attributes would put every record of it over the limits', () => {
    // With its name and version, a scope brings 256 attributes at most to each record.
    expect(scopeAttributes('lib', '1.0', many(254))).not.toBeInstanceOf(FieldProblem)
    expect(scopeAttributes('lib', '1.0', many(255))).toMatchObject({ field: 'scope.attributes', message: 'at most 254 entries' })
    expect(scopeAttributes('', '', many(10_000))).toMatchObject({ field: 'scope.attributes', message: 'at most 256 entries' })
    // Keys take the prefix otel.scope.attributes. (22 characters).
    expect(scopeAttributes('', '', [['k'.repeat(234), 'v']])).not.toBeInstanceOf(FieldProblem)
    expect(scopeAttributes('', '', [['k'.repeat(235), 'v']])).toMatchObject({ field: `scope.attributes.${'k'.repeat(183)}…`, message: 'expected a key of 1-256 characters, got 257' })
  })

  it('refuse a resource or scope larger on its own than a record may be', () => {
    expect(resourceContext([['service.name', 'api'], ['k', 'v'.repeat(96)]], 100)).not.toBeInstanceOf(FieldProblem)
    expect(resourceContext([['service.name', 'api'], ['k', 'v'.repeat(97)]], 100)).toMatchObject({ field: 'resource', message: 'at least 101 bytes encoded in each of its records, over the limit of 100' })
    expect(scopeAttributes('lib', '', [['k', 'v'.repeat(200)]], 100)).toMatchObject({ field: 'scope', message: expect.stringMatching(/^at least 2\d\d bytes encoded/) })
  })

  it('keep an attribute named __proto__ as an attribute, setting no prototype', () => {
    const into: Record<string, string> = {}
    addAttribute(into, '__proto__', 'kept')
    addAttribute(into, 'other', 'y')
    expect(Object.getPrototypeOf(into)).toBe(Object.prototype)
    expect(Object.keys(into)).toEqual(['__proto__', 'other'])
    expect(Object.getOwnPropertyDescriptor(into, '__proto__')?.value).toBe('kept')
    for (const v of [1n, new KvList([])]) {
      const other: Record<string, string> = {}
      addAttribute(other, '__proto__', v)
      expect(Object.keys(other)).toEqual(['__proto__'])
    }
    const res = resourceContext([['__proto__', 'r'], ['service.name', 'api']])
    expect(res).not.toBeInstanceOf(FieldProblem)
    expect(Object.getOwnPropertyDescriptor((res as { resource: object }).resource, '__proto__')?.value).toBe('r')
  })
})

const base: OtlpLogRecord = {
  timeUnixNano: '1764000000000000001',
  observedTimeUnixNano: 0n,
  severityNumber: 13,
  severityText: 'WARN',
  body: 'disk almost full',
  attributes: {},
  traceId: '',
  spanId: '',
  eventName: '',
}
