import { describe, expect, it } from 'vitest'
import { validateLogInput } from './input.js'

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
