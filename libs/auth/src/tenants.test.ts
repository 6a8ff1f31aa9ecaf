import { describe, expect, it } from 'vitest'
import { Gauges, TenantSettingsTable, TokenBuckets, parseTenantsFile } from './tenants.js'

describe('tenant settings', () => {
  it('layers a tenant over the file defaults over the built-in ones', () => {
    const table = new TenantSettingsTable(
      parseTenantsFile('{"defaults":{"ingest_records_per_second":100,"retention_days":7},"tenants":{"acme":{"retention_days":90},"globex":{"ingest_records_per_second":0}}}'),
      { retentionDays: 30 },
    )
    expect(table.get('acme')).toMatchObject({ ingestRecordsPerSecond: 100, retentionDays: 90, queryMaxConcurrent: 0 })
    expect(table.get('globex')).toMatchObject({ ingestRecordsPerSecond: 0, retentionDays: 7 })
    expect(table.get('other')).toMatchObject({ ingestRecordsPerSecond: 100, retentionDays: 7, ingestBurstSeconds: 2 })
    expect(new TenantSettingsTable(undefined, { retentionDays: 30 }).get('x').retentionDays).toBe(30)
  })

  it('names what is wrong in the file', () => {
    expect(() => parseTenantsFile('{"tenants":{"a b":{}}}')).toThrow(/tenants/)
    expect(() => parseTenantsFile('{"defaults":{"retention_days":0}}')).toThrow(/defaults\.retention_days/)
    expect(() => parseTenantsFile('{"defaults":{"ingest_rate":5}}')).toThrow(/ingest_rate/)
  })
})

describe('token buckets', () => {
  it('lets a burst through, then refuses with the seconds to wait, refilling at the rate', () => {
    let now = 0
    const buckets = new TokenBuckets(() => now)
    expect(buckets.take('t', 150, 100, 2)).toBe(0)
    expect(buckets.take('t', 50, 100, 2)).toBe(0)
    expect(buckets.take('t', 150, 100, 2)).toBe(2)
    now = 1000
    expect(buckets.take('t', 150, 100, 2)).toBe(1)
    expect(buckets.take('t', 100, 100, 2)).toBe(0)
    expect(buckets.take('other', 200, 100, 2)).toBe(0)
  })

  it('refuses without taking, lets an oversize request through a full bucket, and ignores rate 0', () => {
    let now = 0
    const buckets = new TokenBuckets(() => now)
    expect(buckets.take('t', 500, 100, 2)).toBe(0)
    expect(buckets.take('t', 1, 100, 2)).toBeGreaterThan(0)
    now = 10_000
    expect(buckets.take('t', 200, 100, 2)).toBe(0)
    buckets.refund('t', 200)
    expect(buckets.take('t', 200, 100, 2)).toBe(0)
    expect(buckets.take('t', 1e9, 0, 2)).toBe(0)
  })
})

describe('gauges', () => {
  it('counts slots per key up to a limit, 0 meaning none', () => {
    const g = new Gauges()
    expect(g.acquire('a', 2)).toBe(true)
    expect(g.acquire('a', 2)).toBe(true)
    expect(g.acquire('a', 2)).toBe(false)
    expect(g.acquire('b', 2)).toBe(true)
    g.release('a')
    expect(g.acquire('a', 2)).toBe(true)
    expect(g.acquire('c', 0) && g.acquire('c', 0) && g.acquire('c', 0)).toBe(true)
    expect(g.count('c')).toBe(3)
  })
})
