import { describe, expect, it } from 'vitest'
import { EnrichedGenerator, SERVICE_COUNT, isUnhealthy, serviceName } from './enriched.js'

describe('alerter bench records', () => {
  const gen = new EnrichedGenerator({ seed: 1, jitterMs: 2000 })
  const now = Date.parse('2026-01-01T00:00:00Z')
  const logs = Array.from({ length: 100_000 }, () => gen.next(now))

  it('spread over 1 000 services of one tenant with ~3 % errors and a few FATALs, only from unhealthy services', () => {
    expect(new Set(logs.map((l) => l.service)).size).toBe(SERVICE_COUNT)
    expect(new Set(logs.map((l) => l.tenant))).toEqual(new Set(['bench']))
    const errors = logs.filter((l) => l.is_error).length / logs.length
    expect(errors).toBeGreaterThan(0.02)
    expect(errors).toBeLessThan(0.04)
    const fatal = logs.filter((l) => l.level === 'FATAL')
    expect(fatal.length).toBeGreaterThan(0)
    expect(fatal.length).toBeLessThan(20)
    for (const l of fatal) expect(isUnhealthy(Number(l.service.slice(4)))).toBe(true)
  })

  it('gives each service a handful of pattern ids, event times within the jitter', () => {
    const patterns = new Set(logs.filter((l) => l.service === serviceName(1)).map((l) => l.pattern_id))
    expect(patterns.size).toBeGreaterThanOrEqual(4)
    expect(patterns.size).toBeLessThanOrEqual(7)
    for (const l of logs.slice(0, 1000)) {
      const ms = Number(l.timestamp / 1_000_000n)
      expect(ms).toBeLessThanOrEqual(now)
      expect(ms).toBeGreaterThanOrEqual(now - 2000)
    }
  })

  it('builds a FATAL probe for a given service at exactly the given time', () => {
    const probe = gen.fatal(7, now)
    expect(probe).toMatchObject({ service: 'svc-0007', level: 'FATAL', is_error: true, timestamp: BigInt(now) * 1_000_000n })
  })
})
