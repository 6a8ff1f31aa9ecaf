// The audit table (schemas/clickhouse/0013) and the two ways rows reach it: a process holding
// ClickHouse inserts them itself (clickhouseAuditWriter); any other process produces them to the
// audit topic (kafkaAuditWriter), which the sink's audit stage (auditStage) inserts.
//
// Audit topic record (TOPIC_AUDIT, default sluice.audit): key = the tenant ('' → no key), value =
// one AuditRow as JSON (libs/auth/src/audit.ts):
//   {"id":"<uuidv7>","time":"2026-12-01T10:00:00.000Z","service":"gateway","action":"auth.refused",
//    "outcome":"refused","tenant":"","key_id":"","target":"POST /v1/logs","reason":"invalid API key",
//    "remote":"10.0.0.7","details":""}
// Row of <db>.audit (JSONEachRow): the same fields; `time` as "2026-12-01 10:00:00.000" (the
// column is DateTime64(3, 'UTC'), and ClickHouse's default date parser takes neither T nor Z).
import { z } from 'zod'
import { AUDIT_OUTCOMES } from '@sluice/auth'
import type { AuditRow, AuditWriter } from '@sluice/auth'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { SluiceError, errorMessage } from '@sluice/core'
import type { MessageProducer, RecordFailure, Stage } from '@sluice/kafka'

const text = (max: number) => z.string().max(max)

/** An audit row as the topic carries it; what does not fit would fail every INSERT retried, so it is refused alone. */
export const auditRowSchema = z.strictObject({
  id: z.string().min(1).max(64),
  time: z.iso.datetime({ offset: false, precision: 3 }),
  service: text(64),
  action: z.string().min(1).max(128),
  outcome: z.enum(AUDIT_OUTCOMES),
  tenant: text(64),
  key_id: text(256),
  target: text(4096),
  reason: text(4096),
  remote: text(256),
  details: text(65_536),
})

/** The row as the table's JSONEachRow INSERT takes it. */
export function toAuditTableRow(row: AuditRow): AuditRow {
  return { ...row, time: row.time.replace('T', ' ').replace('Z', '') }
}

export async function insertAuditRows(client: Pick<ClickHouseClient, 'insert'>, database: string, rows: readonly AuditRow[]): Promise<void> {
  const table = `${database}.audit`
  try {
    await client.insert({ table, values: rows.map(toAuditTableRow), format: 'JSONEachRow' })
  } catch (err) {
    throw new SluiceError('CLICKHOUSE_INSERT_FAILED', `insert into ${table} failed: ${errorMessage(err)}`, { cause: err, canRetry: true })
  }
}

/** Audit rows straight into ClickHouse: for processes that hold it. */
export function clickhouseAuditWriter(client: Pick<ClickHouseClient, 'insert'>, database: string): AuditWriter {
  return (rows) => insertAuditRows(client, database, rows)
}

/** Audit rows to the audit topic, for the sink to insert: for processes without ClickHouse. */
export function kafkaAuditWriter(producer: MessageProducer, topic: string): AuditWriter {
  return (rows) => producer.send(topic, rows.map((r) => ({ key: r.tenant === '' ? null : r.tenant, value: JSON.stringify(r) })))
}

/** The sink's stage reading the audit topic: a record that is not an audit row is refused alone (dead-lettered). */
export function auditStage(flush: { maxRecords: number; intervalMs: number }, insert: (rows: AuditRow[]) => Promise<void>): Stage<Buffer | null, AuditRow> {
  return {
    name: 'clickhouse-sink-audit',
    flush,
    transform(batch) {
      const outputs: AuditRow[] = []
      const failed: RecordFailure[] = []
      for (const [index, value] of batch.values.entries()) {
        try {
          if (value === null) throw new SluiceError('DECODE_FAILED', 'audit record without a value')
          const parsed = auditRowSchema.safeParse(JSON.parse(value.toString('utf8')))
          if (!parsed.success) throw new SluiceError('VALIDATION_FAILED', `not an audit row: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
          outputs.push(parsed.data)
        } catch (error) {
          failed.push({ index, error: error instanceof SyntaxError ? new SluiceError('DECODE_FAILED', `audit record is not JSON: ${error.message}`) : error })
        }
      }
      return { outputs, failed }
    },
    sink: (rows) => insert(rows),
  }
}
