import { describe, expect, it } from 'vitest'
import { defaultStepNs, durationNs, step, time } from './params.js'

describe('Loki request parameters', () => {
  it('reads times as RFC 3339, Unix seconds (with fractions) and nanoseconds', () => {
    const ns = 1_764_000_000_123_456_789n
    expect(time({ t: '1764000000' }, 't', 0n)).toBe(1_764_000_000_000_000_000n)
    expect(time({ t: '1764000000.5' }, 't', 0n)).toBe(1_764_000_000_500_000_000n)
    expect(time({ t: ns.toString() }, 't', 0n)).toBe(ns)
    expect(time({ t: '2025-11-24T16:00:00.123456789Z' }, 't', 0n)).toBe(ns)
    expect(time({}, 't', 42n)).toBe(42n)
    expect(() => time({ t: 'yesterday' }, 't', 0n)).toThrow(/invalid parameter t/)
  })

  it('reads steps as seconds or durations, and defaults to the range over 250 points', () => {
    expect(step({ step: '15' }, 'step')).toBe(15_000_000_000n)
    expect(step({ step: '0.5' }, 'step')).toBe(500_000_000n)
    expect(step({ step: '1m30s' }, 'step')).toBe(90_000_000_000n)
    expect(() => step({ step: 'often' }, 'step')).toThrow(/invalid parameter step/)
    expect(durationNs('1.5h')).toBe(5_400_000_000_000n)
    expect(durationNs('5')).toBeUndefined()
    expect(defaultStepNs(0n, 86_400_000_000_000n)).toBe(345_000_000_000n)
    expect(defaultStepNs(0n, 60_000_000_000n)).toBe(1_000_000_000n)
  })
})
