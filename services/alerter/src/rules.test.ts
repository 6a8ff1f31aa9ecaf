import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, evaluateErrorCount, evaluateErrorRate, parseRules } from './rules.js'

const window = (total: number, errors: number) => ({ key: 't/a', start: 0, end: 300_000, total, errors })

describe('alert rules', () => {
  it('fills the documented defaults for error_rate', () => {
    const rule = DEFAULT_RULES.rules.find((r) => r.kind === 'error_rate')
    expect(rule).toMatchObject({ thresholdRatio: 0.05, minRecords: 20, windowMs: 300_000, slideMs: 60_000 })
  })

  it('fires error_rate only strictly above the ratio and with enough records', () => {
    const rules = parseRules(JSON.stringify({ rules: [{ id: 'r', name: 'r', kind: 'error_rate' }] }))
    const rule = rules.rules[0]
    if (rule?.kind !== 'error_rate') throw new Error('expected error_rate')
    expect(evaluateErrorRate(rule, window(100, 5))).toBeNull()
    expect(evaluateErrorRate(rule, window(100, 6))).toEqual({ value: 0.06, threshold: 0.05 })
    expect(evaluateErrorRate(rule, window(19, 19))).toBeNull()
  })

  it('fires error_count at the threshold', () => {
    const rule = { id: 'c', name: 'c', kind: 'error_count', severity: 'warning', windowMs: 60_000, slideMs: 60_000, threshold: 3 } as const
    expect(evaluateErrorCount(rule, window(10, 2))).toBeNull()
    expect(evaluateErrorCount(rule, window(10, 3))).toEqual({ value: 3, threshold: 3 })
  })

  it('rejects a rules file naming the bad field', () => {
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'x', name: 'x', kind: 'error_count' }] }))).toThrow(/rules\.0\.threshold/)
  })
})
