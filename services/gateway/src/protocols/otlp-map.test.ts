// mapRecord makes most OTLP records into LogEvents itself; the validator stays the authority. Here
// both are given the same generated records (fast-check, fixed seed) and must agree: the event
// mapRecord makes is the one validateLogInput makes of sluiceRecord's record, and a record outside
// the validator's limits goes to the validator as that record.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_TIMESTAMP_NS, validateLogInput } from '@sluice/core'
import { Validated } from '../ingest.js'
import { FieldProblem, KvList, mapRecord, resourceContext, sluiceRecord } from './otlp-map.js'
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
const nanos = fc.oneof(
  fc.constantFrom(0n, '0', 1n, '1', MAX_TIMESTAMP_NS, MAX_TIMESTAMP_NS + 1n, MAX_TIMESTAMP_NS.toString(), (MAX_TIMESTAMP_NS + 1n).toString()),
  fc.bigInt({ min: 0n, max: MAX_TIMESTAMP_NS }),
  // Digits as OTLP JSON sends them, of every length (fewer than 18 are read differently).
  fc.bigInt({ min: 1n, max: MAX_TIMESTAMP_NS }).map(String),
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
    const seen = { events: 0, records: 0, problems: 0 }
    fc.assert(
      fc.property(resourceAttributes, record, (resAttributes, r) => {
        const res = resourceContext(resAttributes)
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
  })

  it('keeps a record at the limits as an event and one past them for the validator, which names the field', () => {
    const res = resourceContext([['service.name', 's'.repeat(256)]])
    const at = mapRecord({ ...copy(base), attributes: { ['k'.repeat(256)]: 'v' } }, res, DEFAULTS)
    expect(at).toBeInstanceOf(Validated)
    expect((at as Validated).event.service).toBe('s'.repeat(256))

    const past = mapRecord({ ...copy(base), attributes: { ['k'.repeat(257)]: 'v' } }, res, DEFAULTS)
    expect(past).not.toBeInstanceOf(Validated)
    expect(validateLogInput(past, 3, DEFAULTS)).toMatchObject({ ok: false, errors: [{ index: 3, field: `attributes.${'k'.repeat(257)}` }] })

    const longService = mapRecord(copy(base), resourceContext([['service.name', 's'.repeat(257)]]), DEFAULTS)
    expect(validateLogInput(longService, 0, DEFAULTS)).toMatchObject({ ok: false, errors: [{ field: 'service' }] })
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
