// Pattern ids as stored: Loghub-2k lines go through the gateway, the enricher and the ClickHouse
// sink; grouping the stored rows by pattern_id, followed through the pattern_aliases table, must
// score the grouping accuracy of the miner's final groups (the same code run offline), ± 0.01.
// The patterns table counts every group's records.
import { describe, expect, it } from 'vitest'
import { LOGHUB_DATASETS, evaluateProduction, groupingAccuracy, loadLoghub, loadRawLoghub } from '../../services/enricher/src/loghub.js'
import { resolveAliases } from '../../services/enricher/src/miner.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

const DATASETS = LOGHUB_DATASETS

describe('template groups end to end', () => {
  it('stores pattern ids that group the Loghub lines as well as the final groups, and counts them in patterns', { timeout: 300_000 }, async () => {
    // The lines carry their own times (2005–2017): keep them past the retention (55 years: a
    // DateTime, and so the TTL, ends in 2106).
    const iso = isolation({ CLICKHOUSE_TTL_DAYS: '20000' })
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], iso)
    const gw = rt.addresses.gateway!
    // Raw lines (headers and all), one service per dataset so each keeps its order on one partition.
    for (const dataset of DATASETS) {
      const lines = loadRawLoghub(dataset)
      for (let at = 0; at < lines.length; at += 500) {
        const body = lines.slice(at, at + 500).map((message, i) => JSON.stringify({ id: `${dataset}-${at + i}`, service: dataset, message })).join('\n')
        const res = await fetch(`${gw}/v1/logs`, { method: 'POST', body, headers: { 'content-type': 'application/x-ndjson' } })
        expect(res.status).toBe(200)
      }
    }
    const client = rt.clickhouse!.client
    const db = iso.database
    const total = DATASETS.length * 2000
    // The views (pattern_aliases, patterns) are filled by the same INSERTs as logs, but a reader
    // in another session can see a batch's rows before them: wait for both to have caught up too.
    const aliasesOf = async (from: string) =>
      JSON.stringify(await (await client.query({ query: `SELECT Alias AS a, argMax(PatternId, at) AS p FROM (${from}) GROUP BY a ORDER BY a`, format: 'JSONEachRow' })).json())
    await waitFor(`${total} rows, their patterns and aliases`, async () => {
      const rs = await client.query({ query: `SELECT (SELECT count() FROM ${db}.logs) AS n, (SELECT countMerge(Count) FROM ${db}.patterns) AS counted`, format: 'JSONEachRow' })
      const [row] = await rs.json<{ n: string; counted: string }>()
      if (Number(row!.n) < total || Number(row!.counted) < total) return undefined
      const derived = await aliasesOf(`SELECT Alias, PatternId, ObservedTimestamp AS at FROM ${db}.logs ARRAY JOIN PatternAliases AS Alias`)
      const viewed = await aliasesOf(`SELECT Alias, PatternId, MergedAt AS at FROM ${db}.pattern_aliases`)
      return derived === viewed ? true : undefined
    }, 180_000)
    const rows = await (await client.query({ query: `SELECT id, PatternId AS p FROM ${db}.logs FINAL`, format: 'JSONEachRow' })).json<{ id: string; p: string }>()
    const aliasRows = await (await client.query({ query: `SELECT Alias AS a, argMax(PatternId, MergedAt) AS p FROM ${db}.pattern_aliases GROUP BY Alias`, format: 'JSONEachRow' })).json<{ a: string; p: string }>()
    const aliases = new Map(aliasRows.map((r) => [r.a, r.p]))
    const byId = new Map(rows.map((r) => [r.id, r.p]))

    const report: string[] = []
    for (const dataset of DATASETS) {
      const { eventIds } = loadLoghub(dataset)
      const stored = eventIds.map((_, i) => byId.get(`${dataset}-${i}`)!)
      expect(stored.every((p) => typeof p === 'string' && p !== '')).toBe(true)
      const pipeline = groupingAccuracy(eventIds, stored.map((p) => resolveAliases(aliases, p)))
      const offline = evaluateProduction(dataset, 'raw').ga
      report.push(`${dataset.padEnd(10)} stored+aliases ${pipeline.toFixed(3)}  offline final ${offline.toFixed(3)}`)
      expect([dataset, Math.abs(pipeline - offline) <= 0.01]).toEqual([dataset, true])
    }
    console.log(report.join('\n'))

    // Every record is counted once in patterns, by tenant, service and pattern.
    const counted = await (await client.query({ query: `SELECT ServiceName AS s, countMerge(Count) AS n, uniqExact(PatternId) AS g FROM ${db}.patterns GROUP BY s ORDER BY s`, format: 'JSONEachRow' })).json<{ s: string; n: string; g: string }>()
    expect(counted.map((r) => [r.s, Number(r.n)])).toEqual([...DATASETS].sort().map((d) => [d, 2000]))
    const hdfs = await (await client.query({
      query: `SELECT PatternId AS p, argMaxMerge(Template) AS t, countMerge(Count) AS n FROM ${db}.patterns WHERE ServiceName = 'HDFS' GROUP BY p ORDER BY n DESC LIMIT 1`,
      format: 'JSONEachRow',
    })).json<{ p: string; t: string; n: string }>()
    expect(hdfs[0]!.t).toMatch(/^[^<]*\S/)
    expect(Number(hdfs[0]!.n)).toBeGreaterThan(100)
  })
})
