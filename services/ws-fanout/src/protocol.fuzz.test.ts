// Raw fuzzing of the /v1/stream client messages (fast-check, fixed seed): random text, random JSON
// and mutations of valid messages. parseClientMessage never throws, answers an error naming what
// was wrong or a message the schema accepts, and the filters it accepts compile and match.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CHANNELS, clientMessageSchema, compileFilters, parseClientMessage } from './protocol.js'

const SEED = 15
const VALID = [
  { type: 'subscribe', channels: ['logs', 'alerts'], filters: { services: ['api'], minLevel: 'WARN', category: 'timeout', patternId: '0123456789abcdef', q: 'timeout' } },
  { type: 'unsubscribe', channels: ['stats'] },
  { type: 'pause' },
  { type: 'resume' },
  { type: 'auth', token: 'abc.def' },
]

/** A valid message with one field replaced by any JSON value, or one field added or removed. */
const mutated = fc.tuple(fc.constantFrom(...VALID), fc.constantFrom('type', 'channels', 'filters', 'token', 'services', 'minLevel', 'q', 'extra'), fc.option(fc.jsonValue())).map(([m, key, value]) => {
  const copy = structuredClone(m) as Record<string, unknown>
  const target = key in copy || !('filters' in copy) ? copy : (copy.filters as Record<string, unknown>)
  if (value === null) delete target[key]
  else target[key] = value
  return JSON.stringify(copy)
})

const LOG = { service: 'api', severity_number: 13, category: 'timeout', pattern_id: '0123456789abcdef', message: 'request timeout after 30 s' }

describe('WebSocket client messages under fuzzing', () => {
  it('parse to a valid message or an error naming the fault, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.json(), mutated), (text) => {
        const r = parseClientMessage(text)
        if (r.ok) {
          expect(clientMessageSchema.safeParse(r.message).success).toBe(true)
          if (r.message.type === 'subscribe') {
            for (const c of r.message.channels) expect(CHANNELS).toContain(c)
            expect(typeof compileFilters(r.message.filters)(LOG)).toBe('boolean')
          }
        } else expect(r.error).toMatch(/\S/)
      }),
      { seed: SEED, numRuns: 2000 },
    )
  })

  it('accepts every valid message it is mutated from', () => {
    for (const m of VALID) expect(parseClientMessage(JSON.stringify(m))).toMatchObject({ ok: true })
  })
})
