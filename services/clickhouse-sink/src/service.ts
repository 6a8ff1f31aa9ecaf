// ClickHouse sink: logs.enriched → <db>.logs and alerts → <db>.alerts, two stages on the consumer
// runner. Logs: transform = each chunk's records as RowBinary rows of the logs table, transcoded
// straight from their Avro bytes (transcode.ts: no objects, no strings; records written under
// another schema version are decoded with schema resolution and encoded by row-binary.ts
// instead), a record the table cannot take refused alone and dead-lettered; sink = one RowBinary
// INSERT per flush, the chunks' rows back to back. Alerts (a handful per incident): toAlertRow,
// one JSONEachRow INSERT per flush. Audit rows of processes without ClickHouse (audit.ts): the
// audit topic's JSON rows, one JSONEachRow INSERT per flush. Every log row carries its tenant's
// RetentionDays (retention.ts). Offsets are committed only after ClickHouse acknowledged the
// insert; while ClickHouse fails the runner retries with backoff and commits nothing.
import { SluiceError, errorMessage } from '@sluice/core'
import type { Alert } from '@sluice/core'
import { insertRowBinary } from '@sluice/clickhouse'
import type { Batch, RecordFailure, Stage, Transformed } from '@sluice/kafka'
import { LATENCY_BUCKETS_SECONDS, counter, createHttpApp, histogram } from '@sluice/observability'
import type { DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { LOG_COLUMN_NAMES, LogRowBinaryEncoder } from './row-binary.js'
import { LogTranscoder, transcoderMismatch } from './transcode.js'
import { toAlertRow } from './alert-row.js'
import type { AlertRow } from './alert-row.js'
import type { AuditRow } from '@sluice/auth'
import { auditStage, insertAuditRows } from './audit.js'
import { TenantRetention } from './retention.js'
import { BlockBuffers } from './block-buffers.js'

export type SinkDeps = DepsFor<{ kafka: true; registry: true; clickhouse: true }>

/** What the sink writes through (ClickHouse; tests give a fake). Both resolve once ClickHouse acknowledged. */
export interface SinkWriter {
  /**
   * RowBinary rows of the logs table, columns as LOG_COLUMN_NAMES, in blocks read one after the
   * other. The blocks' memory is reused once it resolves: nothing may read them after that.
   */
  logs(blocks: readonly Buffer[], count: number): Promise<void>
  alerts(rows: AlertRow[]): Promise<void>
  audit(rows: AuditRow[]): Promise<void>
}

/** Encoded rows of one chunk. */
interface RowBlock {
  bytes: Buffer
  count: number
}

export function clickhouseWriter(deps: SinkDeps, database: string): SinkWriter {
  return {
    logs: (bytes) => insertRowBinary(deps.clickhouse, { table: `${database}.logs`, columns: LOG_COLUMN_NAMES, bytes }),
    async alerts(rows) {
      const table = `${database}.alerts`
      try {
        await deps.clickhouse.client.insert({ table, values: rows, format: 'JSONEachRow' })
      } catch (err) {
        throw new SluiceError('CLICKHOUSE_INSERT_FAILED', `insert into ${table} failed: ${errorMessage(err)}`, { cause: err, canRetry: true })
      }
    },
    audit: (rows) => insertAuditRows(deps.clickhouse.client, database, rows),
  }
}

export function createService(config: Config, deps: SinkDeps, parts: { writer?: SinkWriter } = {}): ServiceInstance {
  const log = deps.logger.child({ service: 'clickhouse-sink' })
  const writer = parts.writer ?? clickhouseWriter(deps, config.database)
  const insertSeconds = histogram(deps.registry, 'sluice_clickhouse_insert_seconds', 'Duration of one INSERT into ClickHouse.', LATENCY_BUCKETS_SECONDS, ['table'])
  const insertedRows = counter(deps.registry, 'sluice_clickhouse_inserted_rows_total', 'Rows inserted into ClickHouse.', ['table'])
  const flush = { maxRecords: config.maxBatchRecords, intervalMs: config.flushIntervalMs }
  const codec = deps.codecs.enriched
  // Tenants' settings are read at boot, so each tenant's RetentionDays is decided once.
  const retention = TenantRetention.of(deps.security.tenants)
  const encoder = new LogRowBinaryEncoder(undefined, retention)
  const transcoder = LogTranscoder.for(codec.id, codec.schema, undefined, retention)
  const blockBuffers = new BlockBuffers()
  if (!transcoder) log.warn({ why: transcoderMismatch(codec.schema) }, 'the enriched-log schema is not the layout the transcoder reads: decoding every record instead')

  const timed = async (table: 'logs' | 'alerts' | 'audit', rows: number, insert: () => Promise<void>) => {
    const end = insertSeconds.startTimer({ table })
    try {
      await insert()
    } finally {
      end()
    }
    insertedRows.inc({ table }, rows)
  }

  /** Rows of the records the transcoder cannot read (another schema version): decoded, then encoded. */
  const encodeDecoded = async (batch: Batch<Buffer | null>, indexes: number[], failed: RecordFailure[]): Promise<RowBlock | undefined> => {
    for (const index of indexes) {
      try {
        const value = batch.values[index]!
        encoder.append(codec.decodeSync(value) ?? (await codec.decode(value)))
      } catch (error) {
        failed.push({ index, error })
      }
    }
    const count = encoder.rowCount
    return count > 0 ? { bytes: encoder.finish(blockBuffers.take), count } : undefined
  }

  const logs: Stage<Buffer | null, RowBlock> = {
    name: 'clickhouse-sink',
    flush,
    size: (block) => block.count,
    transform(batch): Transformed<RowBlock> | Promise<Transformed<RowBlock>> {
      const failed: RecordFailure[] = []
      const foreign: number[] = []
      const outputs: RowBlock[] = []
      if (transcoder) {
        for (let i = 0; i < batch.values.length; i++) {
          try {
            if (transcoder.append(batch.values[i]!) === 'foreign') foreign.push(i)
          } catch (error) {
            failed.push({ index: i, error })
          }
        }
        const { bytes, rowCount } = transcoder.finish(blockBuffers.take)
        if (rowCount > 0) outputs.push({ bytes, count: rowCount })
      } else {
        for (let i = 0; i < batch.values.length; i++) foreign.push(i)
      }
      if (foreign.length === 0) return { outputs, failed }
      return encodeDecoded(batch, foreign, failed).then((block) => {
        if (block) outputs.push(block)
        return { outputs, failed }
      })
    },
    async sink(blocks) {
      let count = 0
      for (const b of blocks) count += b.count
      // Not joined into one buffer: a flush holds a few MB of rows, and every new Buffer brings
      // V8's next young-generation collection nearer (see EncodeBuffers in the gateway). For the
      // same reason the blocks' buffers are reused once ClickHouse has the rows.
      const bytes = blocks.map((b) => b.bytes)
      await timed('logs', count, () => writer.logs(bytes, count))
      blockBuffers.give(bytes)
    },
  }
  const alerts: Stage<Alert, AlertRow> = {
    name: 'clickhouse-sink-alerts',
    flush,
    transform(batch) {
      const outputs: AlertRow[] = []
      const failed: RecordFailure[] = []
      for (const [index, alert] of batch.values.entries()) {
        try {
          outputs.push(toAlertRow(alert))
        } catch (error) {
          failed.push({ index, error })
        }
      }
      return { outputs, failed }
    },
    sink: (rows) => timed('alerts', rows.length, () => writer.alerts(rows)),
  }
  const audit = auditStage(flush, (rows) => timed('audit', rows.length, () => writer.audit(rows)))
  return {
    app: createHttpApp({ name: 'clickhouse-sink', logger: log, registry: deps.registry, checks: deps.checks, access: { security: deps.security, scope: 'admin' } }),
    listen: { host: config.host, port: config.port },
    consumers: [
      // No decoder: the logs stage reads the Avro bytes itself.
      { stage: logs, groupId: config.groupId, topics: [config.topic] },
      // Its own group: the alerts commit, rebalance and lag independently of the logs.
      { stage: alerts, groupId: config.alertsGroupId, topics: [config.alertsTopic], decoders: { [config.alertsTopic]: deps.codecs.alert } },
      { stage: audit, groupId: config.auditGroupId, topics: [config.auditTopic] },
    ],
  }
}
