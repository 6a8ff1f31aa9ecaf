// Which stages share a consumer: same topics and decoders, never a live one.
import { describe, expect, it } from 'vitest'
import { planRunners } from './plan.js'
import type { RecordDecoder, Stage } from './stage.js'

const stage = (name: string): Stage<unknown, unknown> => ({ name, flush: { maxRecords: 1, intervalMs: 1 }, transform: () => ({ outputs: [] }), sink: async () => undefined })
const decoder = (): RecordDecoder<unknown> => ({ decodeSync: () => 1, decode: async () => 1 })

describe('planRunners', () => {
  it('puts stages reading the same topics on one runner, in the first one’s group, each keeping its decoders', () => {
    const enriched = decoder()
    const plans = planRunners([
      { stage: stage('clickhouse-sink'), groupId: 'sink', topics: ['logs.enriched'], decoders: { 'logs.enriched': enriched }, sessionTimeoutMs: 30_000 },
      { stage: stage('clickhouse-sink-alerts'), groupId: 'sink-alerts', topics: ['alerts'], decoders: { alerts: decoder() } },
      { stage: stage('enricher'), groupId: 'enricher', topics: ['logs.raw'], chunksInFlight: 16 },
      { stage: stage('alerter'), groupId: 'alerter', topics: ['logs.enriched'], decoders: { 'logs.enriched': enriched }, sessionTimeoutMs: 10_000 },
      { stage: stage('ws-fanout'), groupId: 'ws-1', topics: ['logs.enriched', 'alerts'], live: true },
      { stage: stage('other'), groupId: 'other', topics: ['logs.enriched'], decoders: { 'logs.enriched': decoder() } },
    ])
    expect(plans.map((p) => [p.name, p.groupId, p.live, p.sessionTimeoutMs, p.chunksInFlight])).toEqual([
      ['clickhouse-sink+alerter+other', 'sink', false, 10_000, undefined],
      ['clickhouse-sink-alerts', 'sink-alerts', false, undefined, undefined],
      ['enricher', 'enricher', false, undefined, 16],
      ['ws-fanout', 'ws-1', true, undefined, undefined],
    ])
    expect(plans[0]!.stages.map((s) => s.decoders?.['logs.enriched'])).toEqual([enriched, enriched, expect.anything()])
    expect(plans[0]!.stages[2]!.decoders?.['logs.enriched']).not.toBe(enriched)
    expect(plans[2]!.stages[0]!.decoders).toBeUndefined()
  })

  it('never shares a live stage, even with another live one on the same topics', () => {
    const plans = planRunners([
      { stage: stage('a'), groupId: 'a', topics: ['t'], live: true },
      { stage: stage('b'), groupId: 'b', topics: ['t'], live: true },
    ])
    expect(plans).toHaveLength(2)
  })
})
