import { describe, expect, it } from 'vitest'
import { fastParse, validateLogInput, zodParse } from './input.js'

const defaults = { tenant: 'acme', source: 'http' as const, observedNs: 1_000_000_000_000_000_000n }

describe('validateLogInput', () => {
  it('turns a minimal record into a LogEvent with defaults', () => {
    const r = validateLogInput({ message: 'hello' }, 0, defaults)
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.event).toMatchObject({
      tenant: 'acme',
      service: 'unknown',
      message: 'hello',
      severity_text: 'INFO',
      severity_number: 9,
      timestamp: defaults.observedNs,
      observed_timestamp: defaults.observedNs,
      source: 'http',
      host: null,
      trace_id: null,
    })
    expect(r.event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/)
  })

  it('accepts common aliases and normalises level and timestamp', () => {
    const r = validateLogInput({ msg: 'x', level: 'warning', ts: 1_763_899_200, service: ' api ' }, 3, defaults)
    expect(r.ok && r.event).toMatchObject({ message: 'x', severity_text: 'WARN', timestamp: 1_763_899_200_000_000_000n, service: 'api' })
  })

  it('keeps a client id and folds unknown top-level keys into string attributes', () => {
    const r = validateLogInput({ id: 'abc', message: 'm', user: { id: 7 }, retry: 3, attributes: { ok: true } }, 0, defaults)
    expect(r.ok && r.event.id).toBe('abc')
    expect(r.ok && r.event.attributes).toEqual({ ok: 'true', user: '{"id":7}', retry: '3' })
  })

  it('names the field and the record index of every error', () => {
    const r = validateLogInput({ message: 'm', level: 'loud', timestamp: 'yesterday', trace_id: 'xyz' }, 4, defaults)
    expect(r.ok).toBe(false)
    if (r.ok) return
    expect(r.errors.map((e) => [e.index, e.field])).toEqual([
      [4, 'timestamp'],
      [4, 'level'],
      [4, 'trace_id'],
    ])
    expect(r.errors[1]?.message).toContain('unknown level "loud"')
  })

  it('requires a message', () => {
    const r = validateLogInput({ level: 'info' }, 2, defaults)
    expect(r).toEqual({ ok: false, errors: [{ index: 2, field: 'message', message: expect.stringContaining('required') }] })
  })

  it('rejects non-objects', () => {
    expect(validateLogInput('text', 0, defaults)).toMatchObject({ ok: false, errors: [{ field: '', message: 'expected a JSON object' }] })
    expect(validateLogInput([1], 0, defaults).ok).toBe(false)
  })
})

describe('fast path', () => {
  // A small deterministic PRNG so failures reproduce.
  let seed = 42
  const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
  const pools: Record<string, readonly unknown[]> = {
    id: ['a', '', 'x'.repeat(128), 'x'.repeat(129), 7, null],
    tenant: ['acme', 'bad tenant', '', 'a'.repeat(64), 'a'.repeat(65), 3],
    timestamp: ['2026-11-23T12:00:00.123Z', '2026-11-23 12:00:00', 1_763_899_200, 1_763_899_200_123, '1763899200123456789', 'soon', -1, null, true],
    level: ['info', 'WARNING', 'E', 17, 0, 25, 'loud', '', null],
    message: ['hello', '', 'x'.repeat(5000), 5, null],
    service: ['api', ' api ', '   ', '', 's'.repeat(256), 's'.repeat(257), ` ${'s'.repeat(256)} `, 1],
    host: ['h', ' h ', '', 'h'.repeat(257), null],
    trace_id: ['0123456789abcdef0123456789ABCDEF', '0123', 'zz23456789abcdef0123456789abcdef', 5],
    span_id: ['0123456789ABCDEF', '012345', null],
    attributes: [{ a: 'b' }, { n: 1, t: true, z: null }, { '': 'x' }, { nested: { a: 1 } }, { list: [1] }, [], null, 'x', Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`k${i}`, 'v']))],
    resource: [{ 'service.version': '1.2' }, { k: { deep: true } }, 5],
    msg: ['alias'],
    extra: ['unknown key'],
  }
  const keys = Object.keys(pools)

  it('accepts only what zod accepts, with the same parsed result', () => {
    let fastAccepted = 0
    for (let n = 0; n < 20_000; n++) {
      const record: Record<string, unknown> = {}
      for (const k of keys) if (rand() < (k === 'message' ? 0.9 : 0.35)) record[k] = pick(pools[k]!)
      const fast = fastParse(record)
      if (fast === undefined) continue
      fastAccepted++
      const slow = zodParse(record)
      expect(slow.success, JSON.stringify(record)).toBe(true)
      expect(fast).toEqual(slow.data)
    }
    // The generator must exercise the fast path, not just the fallback.
    expect(fastAccepted).toBeGreaterThan(400)
  })

  it('gives the same events as the zod path for the common shape', () => {
    const record = { id: 'r1', timestamp: '2026-11-23T12:00:00.5Z', level: 'warn', service: ' api ', host: 'h1', message: 'm', trace_id: 'ABCDEF0123456789ABCDEF0123456789', attributes: { a: 1, b: null } }
    const viaFast = validateLogInput(record, 0, defaults)
    const slow = zodParse(record)
    expect(slow.success).toBe(true)
    expect(viaFast).toMatchObject({ ok: true, event: { service: 'api', severity_text: 'WARN', trace_id: 'abcdef0123456789abcdef0123456789', attributes: { a: '1', b: '' } } })
  })
})
