// Alerts topic → ClickHouse sink → <db>.alerts → query API, all real: Avro alert records produced the
// way the alerter does are stored, and GET /v1/alerts shows each alert once, at its latest version,
// whatever order the versions arrived in and however often one was re-delivered.
import { describe, expect, it, onTestFinished } from 'vitest'
import { createKafka } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import type { Alert } from '@sluice/core'
import { createLogger } from '@sluice/observability'
import { ALERT_T, SECOND_NS, alertFixture } from '../infra/alerts.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

const T = ALERT_T
const S = SECOND_NS
const alert = (over: Partial<Alert> & Pick<Alert, 'id' | 'status' | 'updated_at' | 'version'>): Alert => alertFixture({ tenant: 'default', ...over })

interface Listed {
  id: string
  status: string
  version: number
  [field: string]: unknown
}

describe('alerts store', () => {
  it('keeps the latest version of each alert, collapses re-deliveries, and filters by status', async () => {
    const iso = isolation()
    const topic = iso.env.TOPIC_ALERTS!
    const rt = await startSluice(['clickhouse-sink', 'query-api'], iso)
    const q = rt.addresses['query-api']!
    const sinkAddress = rt.addresses['clickhouse-sink']!
    const ready = await fetch(`${sinkAddress}/readyz`)
    expect(ready.status).toBe(200)
    // Its consumers running is part of being ready.
    expect(((await ready.json()) as { checks: Record<string, string> }).checks).toEqual({ kafka: 'ok', registry: 'ok', clickhouse: 'ok', consumer: 'ok' })

    const logger = createLogger({ level: 'warn' })
    const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'alerts-store-test', logger })
    const codec = await AvroCodec.register<Alert>(createRegistryClient(iso.env.SCHEMA_REGISTRY_URL!), `${topic}-value`, loadAvsc('alert.avsc'))
    const producer = kafka.producer()
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const send = (alerts: Alert[]) => producer.send({ topic, messages: alerts.map((a) => ({ key: a.id, value: codec.encode(a) })) })
    const list = async (query = '') => {
      const res = await fetch(`${q}/v1/alerts${query}`)
      expect(res.status).toBe(200)
      return ((await res.json()) as { alerts: Listed[] }).alerts
    }

    const firing = alert({ id: 'fp-checkout', status: 'firing', updated_at: T + 10n * S, version: 1 })
    // Resolved by a person: who and why reach the table.
    const resolved = alert({ id: 'fp-checkout', status: 'resolved', updated_at: T + 30n * S, resolved_at: T + 30n * S, value: 0.02, resolved_by: 'dana@example.com', resolve_reason: 'rolled back', version: 2 })
    const other = alert({
      id: 'fp-search',
      service: 'search',
      rule_id: 'search-spike',
      rule_name: 'Search error spike',
      rule_kind: 'spike',
      severity: 'warning',
      pattern_id: '0123456789abcdef',
      status: 'firing',
      updated_at: T + 20n * S,
      version: 1,
    })

    // Two flushes, so the versions of fp-checkout sit in different parts; the re-delivered v1
    // arrives after v2, so insertion order alone would get it wrong.
    await send([firing, other])
    await waitFor('both alerts stored', async () => ((await list()).length === 2 ? true : undefined))
    await send([resolved, firing])
    await waitFor('all four alert records inserted', async () => {
      const metrics = await (await fetch(`${sinkAddress}/metrics`)).text()
      return Number(/sluice_clickhouse_inserted_rows_total\{table="alerts"\} (\d+)/.exec(metrics)?.[1]) >= 4 ? true : undefined
    })

    const alerts = await list()
    expect(alerts.map((a) => [a.id, a.status, a.version])).toEqual([
      ['fp-checkout', 'resolved', 2],
      ['fp-search', 'firing', 1],
    ])
    expect(alerts[0]).toEqual({
      id: 'fp-checkout',
      tenant: 'default',
      rule_id: 'checkout-errors',
      rule_name: 'Checkout error rate',
      rule_kind: 'error_rate',
      service: 'checkout',
      pattern_id: null,
      severity: 'critical',
      status: 'resolved',
      value: 0.02,
      threshold: 0.1,
      window_start: '2025-11-23T11:59:00.123456789Z',
      window_end: '2025-11-23T12:00:00.123456789Z',
      started_at: '2025-11-23T12:00:00.123456789Z',
      updated_at: '2025-11-23T12:00:30.123456789Z',
      resolved_at: '2025-11-23T12:00:30.123456789Z',
      acknowledged_by: null,
      resolved_by: 'dana@example.com',
      resolve_reason: 'rolled back',
      explanation: null,
      runbook: [],
      summary: '25% of checkout logs are errors',
      sample_log_ids: ['log-1', 'log-2'],
      version: 2,
    })
    expect(alerts[1]).toMatchObject({ pattern_id: '0123456789abcdef', resolved_at: null, rule_kind: 'spike' })

    // The filter sees only each alert's latest state: fp-checkout's v1 was firing, but is superseded.
    expect((await list('?status=firing')).map((a) => a.id)).toEqual(['fp-search'])
    expect((await list('?status=resolved&service=checkout')).map((a) => a.id)).toEqual(['fp-checkout'])
    expect((await list('?rule_kind=spike&limit=1')).map((a) => a.id)).toEqual(['fp-search'])
    expect(await list('?tenant=other')).toEqual([])

    const bad = await fetch(`${q}/v1/alerts?status=open`)
    expect(bad.status).toBe(400)
    expect(JSON.stringify(await bad.json())).toMatch(/parameter status/)
  })
})
