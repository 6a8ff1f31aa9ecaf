import { describe, expect, it } from 'vitest'
import { DEFAULT_RULES, evaluateErrorCount, evaluateErrorRate, evaluateSpike, parseRules, ruleSchema } from './rules.js'

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
    const rule = ruleSchema.parse({ id: 'c', name: 'c', kind: 'error_count', windowMs: 60_000, slideMs: 60_000, threshold: 3 })
    if (rule.kind !== 'error_count') throw new Error('expected error_count')
    expect(evaluateErrorCount(rule, window(10, 2))).toBeNull()
    expect(evaluateErrorCount(rule, window(10, 3))).toEqual({ value: 3, threshold: 3 })
  })

  it('rejects a rules file naming the bad field', () => {
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'x', name: 'x', kind: 'error_count' }] }))).toThrow(/rules\.0\.threshold/)
  })

  it('fires spike when the current window rate beats the baseline rate by more than the ratio', () => {
    const rule = ruleSchema.parse({ id: 's', name: 's', kind: 'spike', windowMs: 60_000, slideMs: 60_000, baselineMs: 600_000, minRecords: 5 })
    if (rule.kind !== 'spike') throw new Error('expected spike')
    // baseline: 100 errors over 10 min = 10/min; current 15/min = +50 % exactly → not above
    const at = (recentErrors: number) => ({ key: 't/a', start: 0, end: 660_000, total: 0, errors: 100 + recentErrors, recent: { total: 0, errors: recentErrors } })
    expect(evaluateSpike(rule, at(15))).toBeNull()
    expect(evaluateSpike(rule, at(20))).toEqual({ value: 1, threshold: 0.5 })
    // below the minimum volume, or nothing to compare with
    expect(evaluateSpike({ ...rule, minRecords: 50 }, at(20))).toBeNull()
    expect(evaluateSpike(rule, { key: 't/a', start: 0, end: 660_000, total: 0, errors: 20, recent: { total: 0, errors: 20 } })).toBeNull()
  })

  it('rejects an invalid regex, a pattern rule matching nothing and duplicate ids', () => {
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'p', name: 'p', kind: 'pattern', regex: '(' }] }))).toThrow(/rules\.0\.regex: not a valid regular expression/)
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'p', name: 'p', kind: 'pattern' }] }))).toThrow(/needs regex, patternId or category/)
    expect(() => parseRules(JSON.stringify({ rules: [{ id: 'a', name: 'a', kind: 'level' }, { id: 'a', name: 'b', kind: 'level' }] }))).toThrow(/unique/)
    expect(() => parseRules('{')).toThrow(/invalid alert rules file/)
  })
})
