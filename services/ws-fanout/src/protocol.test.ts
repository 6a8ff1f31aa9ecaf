import { describe, expect, it } from 'vitest'
import { compileFilters, parseClientMessage } from './protocol.js'

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
