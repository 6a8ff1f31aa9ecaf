import { describe, expect, it } from 'vitest'
import { containsPattern, filters, logsQuerySchema, parseQuery, where } from './params.js'

const schema = logsQuerySchema(1000)

describe('query parameters', () => {
  it('parses filters, levels and times', () => {
    const p = parseQuery(schema, { q: 'timeout', level: 'warn,error', from: '2025-11-23T12:00:00Z', limit: '5' })
    expect(p).toMatchObject({ q: 'timeout', level: ['WARN', 'ERROR'], from: 1_763_899_200_000_000_000n, limit: 5 })
  })

  it('names the bad parameter', () => {
    expect(() => parseQuery(schema, { limit: '0' })).toThrow(/parameter limit/)
    expect(() => parseQuery(schema, { limit: '5000' })).toThrow(/parameter limit/)
    expect(() => parseQuery(schema, { from: 'soon' })).toThrow(/parameter from/)
    expect(() => parseQuery(schema, { level: 'loud' })).toThrow(/parameter level/)
    expect(() => parseQuery(schema, { sevrity: 'x' })).toThrow(/unknown parameter\(s\): sevrity/)
  })

  it('binds values as parameters, never into the SQL text', () => {
    const f = filters({ service: "x' OR 1=1 --", from: 5n })
    expect(where(f.clauses)).toBe('WHERE ServiceName = {service:String} AND Timestamp >= fromUnixTimestamp64Nano({from:Int64})')
    expect(f.params).toEqual({ service: "x' OR 1=1 --", from: '5' })
  })

  it('escapes LIKE wildcards in text search', () => {
    expect(containsPattern('50%_off\\')).toBe('%50\\%\\_off\\\\%')
  })
})
