// The sink's stages without Kafka or ClickHouse: records of a chunk become RowBinary rows, a record
// the table cannot take is refused alone (the runner dead-letters it), one insert per flush carries
// every chunk's rows, and an alert row the table cannot take is refused alone too.
import { openSecurity } from '@sluice/auth'
import type { AuditRow } from '@sluice/auth'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import type { Alert, EnrichedLog } from '@sluice/core'
import type { Kafka, Stage } from '@sluice/kafka'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Codecs } from '@sluice/service'
import { alertFixture } from '../../../test/infra/alerts.js'
import { enrichedLog } from '../../../test/infra/enriched.js'
import type { AlertRow } from './alert-row.js'
import { loadConfig } from './config.js'
import { avroType, loadAvsc } from '@sluice/registry'
import { LogRowBinaryEncoder } from './row-binary.js'
import { createService } from './service.js'
import type { SinkWriter } from './service.js'

function setup() {
  const written: { logs: Array<{ bytes: Buffer; count: number }>; alerts: AlertRow[][]; audit: AuditRow[][] } = { logs: [], alerts: [], audit: [] }
  const writer: SinkWriter = {
    logs: async (blocks, count) => void written.logs.push({ bytes: Buffer.concat(blocks), count }),
    alerts: async (rows) => void written.alerts.push(rows),
    audit: async (rows) => void written.audit.push(rows),
  }
  // The registered enriched-log schema as id 7; records of other ids decode as if resolved.
  const schema = loadAvsc('enriched-log.avsc')
  const type = avroType(schema)
  const frame = (e: EnrichedLog, id = 7) => Buffer.concat([Buffer.from([0, 0, 0, 0, id]), type.toBuffer(e)])
  const decode = (v: Buffer | null) => type.fromBuffer(v!.subarray(5)) as EnrichedLog
  const codecs = { enriched: { id: 7, schema, decodeSync: (v: Buffer | null) => (v![4] === 7 ? decode(v) : undefined), decode: async (v: Buffer | null) => decode(v) }, alert: {} } as unknown as Codecs
  const service = createService(
    loadConfig({}),
    { logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, clock: Date.now, security: openSecurity(createLogger({ level: 'silent' }), 'clickhouse-sink'), kafka: {} as Kafka, producer: { send: async () => undefined }, codecs, registryUrl: '', clickhouse: {} as ClickHouseHandle },
    { writer },
  )
  const [logs, alerts, audit] = service.consumers!.map((c) => c.stage) as [Stage<Buffer | null, unknown>, Stage<Alert, unknown>, Stage<Buffer | null, unknown>]
  return { service, logs, alerts, audit, written, frame, writer }
}

const batch = <T>(values: T[]) => ({ topic: 't', partition: 0, records: values.map((_, i) => ({ offset: String(i) }) as KafkaMessage), values })

describe('clickhouse-sink stages', () => {
  it('transcodes a chunk to RowBinary rows, refusing a record the table cannot take alone, and encodes records of another schema version after decoding them', async () => {
    const { logs, written, frame } = setup()
    const good = [enrichedLog({ message: 'one' }), enrichedLog({ message: 'two' })]
    const older = enrichedLog({ message: 'written under schema id 8' })
    const tooEarly = enrichedLog({ timestamp: -(2n ** 62n) })
    const out = await logs.transform(batch([frame(good[0]!), frame(tooEarly), frame(older, 8), Buffer.from('not avro'), frame(good[1]!)]))
    expect(out.failed?.map((f) => [f.index, String(f.error)])).toEqual([
      [1, expect.stringMatching(/timestamp/)],
      [3, expect.stringMatching(/DECODE_FAILED|magic byte|too short/)],
    ])
    const again = await logs.transform(batch([frame(enrichedLog({ message: 'three' }))]))
    await logs.sink([...out.outputs, ...again.outputs])
    // One insert for both chunks: the rows the encoder gives for the same records.
    expect(written.logs).toHaveLength(1)
    expect(written.logs[0]!.count).toBe(4)
    const expected = new LogRowBinaryEncoder().encodeBatch([good[0]!, good[1]!, older])
    expect(written.logs[0]!.bytes.subarray(0, expected.bytes.length)).toEqual(expected.bytes)
  })

  it("reuses a flush's row memory once ClickHouse acknowledged it, and never while an insert may still be retried", async () => {
    const { logs, frame } = setup()
    const chunk = () => logs.transform(batch(Array.from({ length: 50 }, (_, i) => frame(enrichedLog({ message: `row ${i}` })))))
    const first = (await chunk()).outputs as Array<{ bytes: Buffer }>
    const memoryOf = (blocks: Array<{ bytes: Buffer }>) => blocks.map((b) => b.bytes.buffer)
    // Not yet inserted: the next chunk gets memory of its own.
    const second = (await chunk()).outputs as Array<{ bytes: Buffer }>
    expect(memoryOf(second).includes(memoryOf(first)[0]!)).toBe(false)
    await logs.sink(first)
    const third = (await chunk()).outputs as Array<{ bytes: Buffer }>
    expect(third).toHaveLength(1)
    expect(third[0]!.bytes.buffer === first[0]!.bytes.buffer).toBe(true)
  })

  it('keeps the memory of a flush whose insert failed: the runner retries it with the same rows', async () => {
    const { logs, frame, writer } = setup()
    const original = writer.logs
    writer.logs = async () => {
      throw new Error('ClickHouse is down')
    }
    const chunk = () => logs.transform(batch([frame(enrichedLog({ message: 'kept' }))]))
    const failed = (await chunk()).outputs as Array<{ bytes: Buffer }>
    const copy = Buffer.from(failed[0]!.bytes)
    await expect(logs.sink(failed)).rejects.toThrow(/down/)
    const next = (await chunk()).outputs as Array<{ bytes: Buffer }>
    expect(next[0]!.bytes.buffer === failed[0]!.bytes.buffer).toBe(false)
    expect(failed[0]!.bytes.equals(copy)).toBe(true)
    writer.logs = original
  })

  it('refuses a record dated after 2096-01-01T00:00:00Z alone, for the dead-letter topic, saying why', async () => {
    // A producer writing to logs.enriched directly passes no gateway: the sink checks the time too,
    // since ClickHouse would drop such a row as expired the moment it was written.
    const { logs, written, frame } = setup()
    const good = enrichedLog({ message: 'kept', timestamp: 3_976_214_400_000_000_000n })
    const late = enrichedLog({ id: 'late', timestamp: 3_976_214_400_000_000_001n })
    const out = await logs.transform(batch([frame(good), frame(late), frame(late, 8)]))
    const reason = "log late: timestamp 3976214400000000001 is after 2096-01-01T00:00:00Z, the latest time storage keeps (ClickHouse's DateTime ends in 2106, less the longest retention of 3650 days)"
    expect(out.failed?.map((f) => [f.index, (f.error as { code?: string }).code, (f.error as Error).message])).toEqual([
      [1, 'VALIDATION_FAILED', reason],
      [2, 'VALIDATION_FAILED', reason],
    ])
    await logs.sink(out.outputs)
    expect(written.logs[0]!.count).toBe(1)
  })

  it('writes alert rows, refusing one whose version the table cannot hold', async () => {
    const { alerts, written } = setup()
    const out = await alerts.transform(batch([alertFixture(), alertFixture({ id: 'fp-2', version: -1 })]))
    expect(out.failed?.map((f) => f.index)).toEqual([1])
    await alerts.sink(out.outputs)
    expect(written.alerts).toEqual([[expect.objectContaining({ Id: 'fp-1', Status: 'firing', Version: 1 })]])
  })

  it('writes audit rows from the audit topic, refusing a record that is not one alone', async () => {
    const { audit, written } = setup()
    const row: AuditRow = { id: 'a1', time: '2026-12-01T10:00:00.000Z', service: 'gateway', action: 'auth.refused', outcome: 'refused', tenant: '', key_id: '', target: 'POST /v1/logs', reason: 'invalid API key', remote: '10.0.0.7', details: '' }
    const json = (v: unknown) => Buffer.from(JSON.stringify(v))
    const out = await audit.transform(batch([json(row), Buffer.from('{not json'), json({ ...row, outcome: 'maybe' }), null, json({ ...row, id: 'a2', extra: 1 })]))
    expect(out.failed?.map((f) => [f.index, (f.error as { code?: string }).code])).toEqual([
      [1, 'DECODE_FAILED'],
      [2, 'VALIDATION_FAILED'],
      [3, 'DECODE_FAILED'],
      [4, 'VALIDATION_FAILED'],
    ])
    await audit.sink(out.outputs)
    expect(written.audit).toEqual([[row]])
  })

  it('consumes logs.enriched, alerts and the audit topic in groups of their own', () => {
    const { service } = setup()
    expect(service.consumers!.map((c) => [c.stage.name, c.groupId, c.topics])).toEqual([
      ['clickhouse-sink', 'sluice-clickhouse-sink', ['logs.enriched']],
      ['clickhouse-sink-alerts', 'sluice-clickhouse-sink-alerts', ['alerts']],
      ['clickhouse-sink-audit', 'sluice-clickhouse-sink-audit', ['sluice.audit']],
    ])
  })
})
