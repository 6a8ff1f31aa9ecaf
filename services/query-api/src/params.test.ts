import { describe, expect, it } from 'vitest'
import { alertFilters, alertsQuerySchema, containsPattern, filters, logsQuerySchema, parseQuery, where } from './params.js'

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

describe('alert query parameters', () => {
  const alerts = alertsQuerySchema(1000)

  it('parses the filters and defaults the limit', () => {
    expect(parseQuery(alerts, {})).toEqual({ limit: 100 })
    expect(parseQuery(alerts, { status: 'firing', service: 'checkout', tenant: 'acme', rule_kind: 'error_rate', limit: '20' })).toEqual({
      status: 'firing',
      service: 'checkout',
      tenant: 'acme',
      rule_kind: 'error_rate',
      limit: 20,
    })
  })

  it('names the bad parameter', () => {
    expect(() => parseQuery(alerts, { status: 'open' })).toThrow(/parameter status/)
    expect(() => parseQuery(alerts, { rule_kind: 'vibes' })).toThrow(/parameter rule_kind/)
    expect(() => parseQuery(alerts, { tenant: 'no spaces allowed' })).toThrow(/parameter tenant/)
    expect(() => parseQuery(alerts, { service: '' })).toThrow(/parameter service/)
    expect(() => parseQuery(alerts, { limit: '1001' })).toThrow(/parameter limit/)
    expect(() => parseQuery(alerts, { limit: 'ten' })).toThrow(/parameter limit/)
    expect(() => parseQuery(alerts, { level: 'error' })).toThrow(/unknown parameter\(s\): level/)
  })

  it('binds alert filters as parameters over the alerts columns', () => {
    const f = alertFilters({ tenant: 'acme', service: "x' OR 1=1 --", status: 'firing', rule_kind: 'spike' })
    expect(where(f.clauses)).toBe('WHERE Tenant = {tenant:String} AND ServiceName = {service:String} AND Status = {status:String} AND RuleKind = {rule_kind:String}')
    expect(f.params).toEqual({ tenant: 'acme', service: "x' OR 1=1 --", status: 'firing', rule_kind: 'spike' })
    expect(alertFilters({})).toEqual({ clauses: [], params: {} })
  })
})
