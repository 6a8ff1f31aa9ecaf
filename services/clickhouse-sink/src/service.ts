// ClickHouse sink: logs.enriched → <db>.logs and alerts → <db>.alerts, two stages on the consumer
// runner. Logs: transform = each chunk's records encoded as RowBinary rows (row-binary.ts; a record
// the table cannot take is refused alone and dead-lettered), sink = one RowBinary INSERT per flush,
// the chunks' bytes back to back — ClickHouse reads them without parsing text. Alerts (a handful
// per incident): toAlertRow, one JSONEachRow INSERT per flush. Offsets are committed only after
// ClickHouse acknowledged the insert; while ClickHouse fails the runner retries with backoff and
// commits nothing.
import { SluiceError, errorMessage } from '@sluice/core'
import type { Alert, EnrichedLog } from '@sluice/core'
import { insertRowBinary } from '@sluice/clickhouse'
import type { RecordFailure, Stage } from '@sluice/kafka'
import { LATENCY_BUCKETS_SECONDS, counter, createHttpApp, histogram } from '@sluice/observability'
import type { DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { LOG_COLUMN_NAMES, LogRowBinaryEncoder } from './row-binary.js'
import { toAlertRow } from './alert-row.js'
import type { AlertRow } from './alert-row.js'

export type SinkDeps = DepsFor<{ kafka: true; registry: true; clickhouse: true }>

/** What the sink writes through (ClickHouse; tests give a fake). Both resolve once ClickHouse acknowledged. */
export interface SinkWriter {
  /** RowBinary rows of the logs table, columns as LOG_COLUMN_NAMES. */
  logs(rows: Buffer, count: number): Promise<void>
  alerts(rows: AlertRow[]): Promise<void>
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
  }
}

export function createService(config: Config, deps: SinkDeps, parts: { writer?: SinkWriter } = {}): ServiceInstance {
  const log = deps.logger.child({ service: 'clickhouse-sink' })
  const writer = parts.writer ?? clickhouseWriter(deps, config.database)
  const insertSeconds = histogram(deps.registry, 'sluice_clickhouse_insert_seconds', 'Duration of one INSERT into ClickHouse.', LATENCY_BUCKETS_SECONDS, ['table'])
  const insertedRows = counter(deps.registry, 'sluice_clickhouse_inserted_rows_total', 'Rows inserted into ClickHouse.', ['table'])
  const flush = { maxRecords: config.maxBatchRecords, intervalMs: config.flushIntervalMs }
  const encoder = new LogRowBinaryEncoder()

  const timed = async (table: 'logs' | 'alerts', rows: number, insert: () => Promise<void>) => {
    const end = insertSeconds.startTimer({ table })
    try {
      await insert()
    } finally {
      end()
    }
    insertedRows.inc({ table }, rows)
  }

  const logs: Stage<EnrichedLog, RowBlock> = {
    name: 'clickhouse-sink',
    flush,
    size: (block) => block.count,
    transform(batch) {
      const { bytes, rowCount, rejected } = encoder.encodeBatch(batch.values)
      return { outputs: rowCount > 0 ? [{ bytes, count: rowCount }] : [], failed: rejected }
    },
    async sink(blocks) {
      let count = 0
      for (const b of blocks) count += b.count
      const bytes = blocks.length === 1 ? blocks[0]!.bytes : Buffer.concat(blocks.map((b) => b.bytes))
      await timed('logs', count, () => writer.logs(bytes, count))
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
  return {
    app: createHttpApp({ logger: log, registry: deps.registry, checks: deps.checks }),
    listen: { host: config.host, port: config.port },
    consumers: [
      { stage: logs, groupId: config.groupId, topics: [config.topic], decoders: { [config.topic]: deps.codecs.enriched } },
      // Its own group: the alerts commit, rebalance and lag independently of the logs.
      { stage: alerts, groupId: config.alertsGroupId, topics: [config.alertsTopic], decoders: { [config.alertsTopic]: deps.codecs.alert } },
    ],
  }
}
