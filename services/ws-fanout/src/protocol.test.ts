import { describe, expect, it } from 'vitest'
import { escapedJson, largestSubscribe } from './protocol-fixture.js'
import { ERROR_MAX_BYTES, MAX_PAYLOAD_BYTES, compileFilters, parseClientMessage, ellipsizeUtf8 } from './protocol.js'

const log = { service: 'api', severity_number: 17, category: 'database', pattern_id: '0123456789abcdef', message: 'deadlock on orders' }

describe('client messages', () => {
  it('accepts subscribe with channels and filters', () => {
    expect(parseClientMessage('{"type":"subscribe","channels":["logs","stats"],"filters":{"services":["api"],"minLevel":"WARN"}}')).toEqual({
      ok: true,
      message: { type: 'subscribe', channels: ['logs', 'stats'], filters: { services: ['api'], minLevel: 'WARN' } },
    })
  })

  it('names what is wrong instead of throwing', () => {
    expect(parseClientMessage('{oops')).toEqual({ ok: false, error: 'invalid JSON' })
    const bad = parseClientMessage('{"type":"subscribe","channels":["tv"]}')
    expect(bad.ok).toBe(false)
    expect(!bad.ok && bad.error).toMatch(/^channels\.0: /)
    expect(parseClientMessage('{"type":"dance"}').ok).toBe(false)
    expect(!parseClientMessage('{"type":"subscribe","channels":["logs"],"filters":{"minLevel":"LOUD"}}').ok).toBe(true)
  })

  it('reads minLevel in any case and the spellings of the query API, as the stored name', () => {
    const minLevel = (level: string) => {
      const r = parseClientMessage(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: { minLevel: level } }))
      if (!r.ok) return r.error
      return r.message.type === 'subscribe' ? r.message.filters?.minLevel : undefined
    }
    expect(['warn', 'Warn', 'WARN', 'warning'].map(minLevel)).toEqual(['WARN', 'WARN', 'WARN', 'WARN'])
    expect(minLevel('err')).toBe('ERROR')
    expect(minLevel('LOUD')).toBe('filters.minLevel: unknown level "LOUD": expected one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL (any case)')
  })

  it('answers a frame of thousands of faults with the first one named and the others counted, in at most 1 KiB', () => {
    // 60 KB in once answered 2.4 MB, every issue listed.
    expect(parseClientMessage(JSON.stringify({ type: 'subscribe', channels: Array(30_000).fill(1) }))).toEqual({ ok: false, error: 'channels: Too big: expected array to have <=3 items' })
    const empties = parseClientMessage(JSON.stringify({ type: 'subscribe', channels: ['logs'], filters: { services: Array(1000).fill('') } }))
    expect(!empties.ok && empties.error).toMatch(/^filters\.services\.0: .* \(and 999 more\)$/)
    // One issue can be long itself: zod names every unknown key.
    const keys = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`key${i}`, 1]))
    const unknown = parseClientMessage(JSON.stringify({ type: 'pause', ...keys }))
    expect(!unknown.ok && unknown.error).toMatch(/^message: Unrecognized keys: "key0", .*…$/)
    expect(!unknown.ok && Buffer.byteLength(unknown.error)).toBeLessThanOrEqual(ERROR_MAX_BYTES)
  })

  it('accepts only messages that fit in a frame, however escaped: the largest is accepted and fits', () => {
    const subscribe = (names: number, chars: number) => ({ type: 'subscribe', channels: ['logs'], filters: { services: Array.from({ length: names }, (_, i) => String(i).padStart(chars, 's')) } })
    const candidates = [subscribe(1000, 256), subscribe(500, 128), subscribe(33, 256), subscribe(32, 256), subscribe(1000, 8), largestSubscribe()]
    const accepted = candidates.filter((m) => parseClientMessage(JSON.stringify(m)).ok)
    expect(accepted).toEqual([subscribe(32, 256), subscribe(1000, 8), largestSubscribe()])
    for (const m of accepted) expect(Buffer.byteLength(escapedJson(m))).toBeLessThanOrEqual(MAX_PAYLOAD_BYTES)
    expect(parseClientMessage(escapedJson(largestSubscribe())).ok).toBe(true)
    expect(parseClientMessage(JSON.stringify(subscribe(1, 257)))).toMatchObject({ ok: false, error: expect.stringMatching(/^filters\.services\.0: Too big/) })
    expect(parseClientMessage(JSON.stringify(subscribe(33, 256)))).toEqual({ ok: false, error: 'filters.services: at most 8192 characters of names in all' })
  })
})

describe('ellipsizeUtf8', () => {
  it('leaves short text alone and cuts long text on a character boundary, marked with …', () => {
    expect(ellipsizeUtf8('tenant acme', 123)).toBe('tenant acme')
    const cut = ellipsizeUtf8('é'.repeat(100), 123)
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123)
    expect(cut).toBe(`${'é'.repeat(60)}…`)
    expect(ellipsizeUtf8('😀'.repeat(40), 20)).toBe(`${'😀'.repeat(4)}…`)
  })
})

describe('filters', () => {
  it('match everything when absent', () => {
    expect(compileFilters(undefined)(log)).toBe(true)
  })

  it('combine service, level, category, pattern and text', () => {
    expect(compileFilters({ services: ['api'], minLevel: 'ERROR', category: 'database', patternId: '0123456789abcdef', q: 'deadlock' })(log)).toBe(true)
    expect(compileFilters({ services: ['web'] })(log)).toBe(false)
    expect(compileFilters({ minLevel: 'FATAL' })(log)).toBe(false)
    expect(compileFilters({ category: 'network' })(log)).toBe(false)
    expect(compileFilters({ q: 'timeout' })(log)).toBe(false)
  })
})
