import { describe, expect, it } from 'vitest'
import type { ClickHouseHttpError } from './errors.js'
import { planRequest, planServiceRequest } from './settings.js'

const KNOWN = new Set(['readonly', 'max_result_rows', 'max_execution_time', 'max_memory_usage', 'result_overflow_mode', 'output_format_json_quote_64bit_integers', 'output_format_schema', 'format_template_row', 'date_time_output_format', 'max_threads', 'allow_ddl', 'additional_table_filters', 'async_insert', 'session_timezone'])
const LIMITS = { maxResultRows: 1000, maxExecutionTimeSeconds: 30, maxMemoryBytes: 1 << 30 }
const plan = (params: Record<string, string>) => planRequest(new Map(Object.entries(params)), KNOWN, LIMITS)
const code = (params: Record<string, string>) => {
  try {
    plan(params)
    return 0
  } catch (err) {
    return (err as ClickHouseHttpError).code
  }
}

describe('request parameters', () => {
  it('adds the interface limits, and keeps HTTP parameters and query parameters out of settings', () => {
    const p = plan({ query: 'SELECT 1', database: 'x', session_id: 's', compress: '1', param_tenant: 'acme', wait_end_of_query: '1' })
    expect(Object.fromEntries(p.settings)).toEqual({ max_result_rows: '1000', max_execution_time: '30', max_memory_usage: String(1 << 30), result_overflow_mode: 'throw' })
    expect(Object.fromEntries(p.queryParams)).toEqual({ tenant: 'acme' })
  })

  it('accepts settings that shape output, and limits lowered', () => {
    const p = plan({ output_format_json_quote_64bit_integers: '0', date_time_output_format: 'iso', max_result_rows: '10', max_execution_time: '1.5', session_timezone: 'UTC', async_insert: '0', readonly: '1' })
    expect(p.settings.get('max_result_rows')).toBe('10')
    expect(p.settings.get('max_execution_time')).toBe('1.5')
    expect(p.settings.get('output_format_json_quote_64bit_integers')).toBe('0')
  })

  it('takes a limit above the interface\'s own (or none) as the interface\'s own', () => {
    const p = plan({ max_result_rows: '0', max_execution_time: '3600', max_memory_usage: String(2 ** 31) })
    expect([p.settings.get('max_result_rows'), p.settings.get('max_execution_time'), p.settings.get('max_memory_usage')]).toEqual(['1000', '30', String(1 << 30)])
  })

  it('refuses lifting readonly, settings that name files, and the rest, as ClickHouse does a readonly user', () => {
    expect(code({ readonly: '0' })).toBe(164)
    expect(code({ readonly: '2' })).toBe(164)
    expect(code({ max_result_rows: 'many' })).toBe(36)
    expect(code({ output_format_schema: '/tmp/x' })).toBe(164)
    expect(code({ format_template_row: '/etc/passwd' })).toBe(164)
    expect(code({ allow_ddl: '1' })).toBe(164)
    expect(code({ additional_table_filters: '{}' })).toBe(164)
    expect(code({ no_such_setting: '1' })).toBe(115)
    expect(code({ 'param_a-b': '1' })).toBe(36)
  })
})

describe('service request parameters', () => {
  const service = (params: Record<string, string>) => planServiceRequest(new Map(Object.entries(params)), KNOWN)

  it('takes every known setting as given, with no limits added', () => {
    const p = service({ query: 'INSERT INTO t FORMAT RowBinary', max_threads: '8', readonly: '0', max_result_rows: '0', async_insert: '0', param_n: '3' })
    expect(Object.fromEntries(p.settings)).toEqual({ max_threads: '8', readonly: '0', max_result_rows: '0', async_insert: '0' })
    expect(Object.fromEntries(p.queryParams)).toEqual({ n: '3' })
  })

  it('still refuses unknown settings and malformed parameter names', () => {
    const code = (params: Record<string, string>) => {
      try {
        service(params)
        return 0
      } catch (err) {
        return (err as ClickHouseHttpError).code
      }
    }
    expect(code({ no_such_setting: '1' })).toBe(115)
    expect(code({ 'param_a-b': '1' })).toBe(36)
  })
})
