import { describe, expect, it } from 'vitest'
import { histogramCount, histogramMean, histogramSum, parseMetrics } from './metrics.js'
import { RecordGenerator, ndjsonBodies } from './records.js'
import { formatNumber, met, percentile, renderTable } from './table.js'

describe('bench table', () => {
  it('aligns every column, right-aligns numbers and marks targets', () => {
    const out = renderTable([
      { section: 'gateway', metric: 'throughput', value: 61_234.4, unit: 'records/s', target: { op: '>=', value: 50_000 } },
      { section: 'gateway', metric: 'ratio', value: 0.42, unit: '×', decimals: 2, target: { op: '>=', value: 0.5 } },
      { section: 'e2e', metric: 'lost', value: 0, unit: 'records', target: { op: '<=', value: 0 } },
    ])
    const lines = out.split('\n')
    expect(lines[2]).toContain('61,234')
    expect(lines[2]).toContain('≥ 50,000  ✓')
    expect(lines[3]).toContain('≥ 0.50    ✗')
    expect(lines[5]).toMatch(/^e2e\s+lost\s+0\s+records\s+≤ 0\s+✓$/)
    // Numbers are right-aligned, so the unit column starts at the same place on every row.
    const column = (line: string, unit: string) => Array.from(line.slice(0, line.indexOf(unit))).length
    expect(column(lines[2]!, 'records/s')).toBe(column(lines[3]!, '×'))
  })

  it('leaves rows without a target unjudged', () => {
    expect(met({ section: 's', metric: 'm', value: 1 })).toBeUndefined()
    expect(met({ section: 's', metric: 'm', value: 'text', target: { op: '>=', value: 1 } })).toBeUndefined()
  })

  it('formats large numbers without decimals and small ones with two', () => {
    expect(formatNumber(123_456.7)).toBe('123,457')
    expect(formatNumber(1.234)).toBe('1.23')
    expect(formatNumber(7)).toBe('7')
  })

  it('takes nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(xs, 50)).toBe(50)
    expect(percentile(xs, 99)).toBe(99)
    expect(percentile([], 50)).toBeNaN()
  })
})

describe('bench metrics scrape', () => {
  it('sums label sets and keeps each one addressable', () => {
    const text = [
      '# HELP x help',
      'sluice_consumer_flush_records_sum{stage="enricher"} 100',
      'sluice_consumer_flush_records_count{stage="enricher"} 10',
      'sluice_consumer_flush_records_sum{stage="clickhouse-sink"} 900',
      'sluice_consumer_flush_records_count{stage="clickhouse-sink"} 3',
    ].join('\n')
    const after = parseMetrics(text)
    expect(after.sluice_consumer_flush_records_sum).toBe(1000)
    expect(histogramMean({}, after, 'sluice_consumer_flush_records', '{stage="clickhouse-sink"}')).toBe(300)
  })

  it('takes a histogram\'s sum and count between two scrapes, per label set', () => {
    const at = (minorSum: number, minorCount: number) =>
      parseMetrics(
        [
          `nodejs_gc_duration_seconds_sum{kind="minor"} ${minorSum}`,
          `nodejs_gc_duration_seconds_count{kind="minor"} ${minorCount}`,
          'nodejs_gc_duration_seconds_sum{kind="major"} 0.5',
          'nodejs_gc_duration_seconds_count{kind="major"} 2',
        ].join('\n'),
      )
    const before = at(1.25, 100)
    const after = at(4, 350)
    expect(histogramSum(before, after, 'nodejs_gc_duration_seconds', '{kind="minor"}')).toBeCloseTo(2.75, 10)
    expect(histogramCount(before, after, 'nodejs_gc_duration_seconds', '{kind="minor"}')).toBe(250)
    expect(histogramSum(before, after, 'nodejs_gc_duration_seconds', '{kind="major"}')).toBe(0)
    expect(histogramSum({}, after, 'nodejs_gc_duration_seconds', '{kind="incremental"}')).toBe(0)
  })
})

describe('bench records', () => {
  it('generates records near the target size, deterministically', () => {
    const a = new RecordGenerator(400).next(1_763_899_200_000)
    const b = new RecordGenerator(400).next(1_763_899_200_000)
    expect(a).toEqual(b)
    const bodies = ndjsonBodies(2, 200, 400, 1_763_899_200_000)
    const avg = bodies.reduce((s, x) => s + x.body.length, 0) / 400
    expect(avg).toBeGreaterThan(380)
    expect(avg).toBeLessThan(460)
    expect(bodies[0]!.body.toString().split('\n').filter(Boolean)).toHaveLength(200)
  })
})
