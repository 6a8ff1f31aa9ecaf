import { describe, expect, it } from 'vitest'
import { asciiLower, flattenJson, nonEmptySanitised, visible } from './output.js'

describe('log line labels', () => {
  it('flattens JSON as Loki names its fields: nested objects joined with _, values as text, nulls left out', () => {
    expect(flattenJson('{"status":503,"ok":false,"req":{"path":"/a","headers":{"user-agent":"curl"}},"tags":["x"],"gone":null,"msg":"down"}')).toEqual({
      status: '503',
      ok: 'false',
      req_path: '/a',
      req_headers_user_agent: 'curl',
      tags: '["x"]',
      msg: 'down',
    })
    expect(flattenJson('not json')).toEqual({})
    expect(flattenJson('[1,2]')).toEqual({})
  })

  it('sanitises attribute names and leaves out empty values and the named key', () => {
    expect(nonEmptySanitised({ 'k8s.namespace.name': 'prod', 'service.name': 'api', empty: '' }, 'service.name')).toEqual({ k8s_namespace_name: 'prod' })
  })

  it('lowers A–Z only, as ClickHouse lower() does where the label is compared (level = "error")', () => {
    expect(asciiLower('ERROR')).toBe('error')
    expect(asciiLower('Warn_2')).toBe('warn_2')
    expect(asciiLower('info')).toBe('info')
    // Not Unicode lower case: É and İ stay, as in the SQL side of a comparison.
    expect(asciiLower('ÉCHEC İ')).toBe('Échec İ')
  })

  it('applies drop and keep stages, with matchers limiting a drop to some values', () => {
    const labels = { a: '1', b: '2', level: 'debug', host: 'h' }
    expect(visible(labels, { dropped: new Set(['a']), kept: undefined, dropMatchers: [{ name: 'level', test: (v) => v === 'debug' }] })).toEqual({ b: '2', host: 'h' })
    expect(visible(labels, { dropped: new Set(), kept: new Set(['a', 'host']), dropMatchers: [] })).toEqual({ a: '1', host: 'h' })
  })
})
