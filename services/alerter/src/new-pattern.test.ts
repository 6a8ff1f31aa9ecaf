import { describe, expect, it } from 'vitest'
import { NewPatternTracker } from './new-pattern.js'
import { evaluateLevel, ruleSchema } from './rules.js'

describe('NewPatternTracker', () => {
  it('flags an ERROR template only the first time it is seen for that service', () => {
    const t = new NewPatternTracker()
    expect(t.observe('t/a', 'p1', 'ERROR')).toBe(true)
    expect(t.observe('t/a', 'p1', 'FATAL')).toBe(false)
    expect(t.observe('t/b', 'p1', 'ERROR')).toBe(true)
  })

  it('does not flag a template first learnt below ERROR', () => {
    const t = new NewPatternTracker()
    expect(t.observe('t/a', 'p2', 'INFO')).toBe(false)
    expect(t.observe('t/a', 'p2', 'ERROR')).toBe(false)
  })
})

describe('level rule', () => {
  it('fires on FATAL by default and on ERROR only when configured', () => {
    const fatal = ruleSchema.parse({ id: 'f', name: 'f', kind: 'level' })
    const error = ruleSchema.parse({ id: 'e', name: 'e', kind: 'level', level: 'ERROR' })
    if (fatal.kind !== 'level' || error.kind !== 'level') throw new Error('expected level rules')
    expect(evaluateLevel(fatal, 'FATAL')).toBe(true)
    expect(evaluateLevel(fatal, 'ERROR')).toBe(false)
    expect(evaluateLevel(error, 'ERROR')).toBe(true)
    expect(evaluateLevel(error, 'WARN')).toBe(false)
  })
})
