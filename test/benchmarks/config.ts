// Benchmark settings, read once from the environment. Units live in the names. Defaults keep the
// whole `npm run bench` under about four minutes on the 2-core reference machine.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { REPO_ROOT } from '../infra/providers.js'

function envNumber(name: string, def: number, min = 0): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const n = Number(raw)
  if (!Number.isFinite(n) || n < min) throw new Error(`${name}=${JSON.stringify(raw)}: expected a number ≥ ${min}`)
  return n
}

function envList(name: string, def: number[]): number[] {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const list = raw.split(',').map((s) => Number(s.trim()))
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${name}=${JSON.stringify(raw)}: expected positive integers, comma-separated`)
  return list
}

export function loadBenchConfig() {
  const outDir = path.join(REPO_ROOT, '.local', 'bench')
  return Object.freeze({
    /** Suffix of every topic, subject, database and group of this run, so runs never share state. */
    runId: randomBytes(3).toString('hex'),
    outDir,
    resultsFile: path.join(outDir, 'results.json'),
    /** Average size of one JSON record as posted (the generator pads messages towards it). */
    recordBytes: envNumber('BENCH_RECORD_BYTES', 400, 100),
    recordsPerRequest: envNumber('BENCH_RECORDS_PER_REQUEST', 1000, 1),
    /** Distinct request bodies generated up front and cycled, so the load generator spends no CPU building them. */
    bodyPool: envNumber('BENCH_BODY_POOL', 24, 1),
    // Eight clients posting 1 000-record batches keep the gateway's one core busy and give its
    // producer requests to coalesce while one is in flight; fewer leave it waiting on Kafka.
    connections: envNumber('BENCH_CONNECTIONS', 8, 1),
    warmupS: envNumber('BENCH_WARMUP_S', 3),
    gatewayDurationS: envNumber('BENCH_DURATION_S', 20, 1),
    /** Per ingest protocol (six of them, each after a short warm-up), in all its rounds together. */
    protocolDurationS: envNumber('BENCH_PROTOCOL_DURATION_S', 12, 1),
    /** Rounds the protocols' time is cut into, every protocol once a round (protocols.ts). */
    protocolRounds: envNumber('BENCH_PROTOCOL_ROUNDS', 4, 1),
    /** Per sendBatch size. */
    rawDurationS: envNumber('BENCH_RAW_DURATION_S', 8, 1),
    // Record counts per sendBatch to measure (the best is the baseline). Kafka rejects a record
    // batch over message.max.bytes (1 MiB by default) per partition, and kafkajs sends one batch
    // per partition per request: 5 000 records of ~390 B over 3 partitions (the busiest gets
    // ~38 % of the keys) stay near 750 KB.
    rawBatchRecords: envList('BENCH_RAW_BATCH_RECORDS', [1000, 5000]),
    /** Records pre-filled for the consumers-only drain. */
    drainRecords: envNumber('BENCH_DRAIN_RECORDS', 300_000, 1),
    /**
     * Enricher: rounds of (pass-through, enricher) over the same backlog, alternating so both see
     * the same machine; each side's best round is its figure. A run of either lasts seconds, and
     * on a shared machine one round swings by ±10 %.
     */
    enricherRounds: envNumber('BENCH_ENRICHER_ROUNDS', 2, 1),
    /**
     * Enricher: the backlog each round drains. A million, as the alerter's: a drain of 300 000 lasts
     * about a second for the pass-through (rounds swung 185 000–385 000 records/s) and three for
     * the enricher, whose first second is JIT warm-up (~20 % below its rate after it).
     */
    enricherRecords: envNumber('BENCH_ENRICHER_RECORDS', 1_000_000, 1),
    e2eDurationS: envNumber('BENCH_E2E_DURATION_S', 60, 1),
    /** End-to-end: give up waiting for ClickHouse when the stored count has not grown for this long. */
    e2eSettleS: envNumber('BENCH_E2E_SETTLE_S', 20, 1),
    e2eMaxWaitS: envNumber('BENCH_E2E_MAX_WAIT_S', 120, 1),
    e2ePollMs: envNumber('BENCH_E2E_POLL_MS', 500, 50),
    /** End-to-end in two processes (gateway | sink + query API) instead of one `--target all`. */
    e2eSplit: process.env.BENCH_E2E_SPLIT === '1',
    // The alerter drains ~3× faster than the enricher: a larger backlog keeps its drain over a
    // few checkpoint intervals (5 s), so checkpoints and window closes are part of the figure.
    alerterRecords: envNumber('BENCH_ALERTER_RECORDS', 1_000_000, 1),
    /** Alerter time to alert: background records/s on logs.enriched (0: none) while the FATAL probes are timed. */
    alerterLoadRecordsPerS: envNumber('BENCH_ALERTER_LOAD_RECORDS_PER_S', 20_000),
    /** FATAL probes, one every alerterProbeIntervalMs, each for a service that never logged one. */
    alerterProbes: envNumber('BENCH_ALERTER_PROBES', 50, 1),
    alerterProbeIntervalMs: envNumber('BENCH_ALERTER_PROBE_INTERVAL_MS', 200, 10),
    /** How long a probe's alert may take before it counts as missing. */
    alerterAlertTimeoutMs: envNumber('BENCH_ALERTER_ALERT_TIMEOUT_MS', 30_000, 100),
    partitions: envNumber('BENCH_PARTITIONS', 3, 1),
    childStartTimeoutMs: envNumber('BENCH_CHILD_START_TIMEOUT_MS', 120_000, 1000),
    childStopTimeoutMs: envNumber('BENCH_CHILD_STOP_TIMEOUT_MS', 15_000, 100),
    /** Extra node flags for the service children, e.g. "--cpu-prof --cpu-prof-dir=.local/bench/prof". */
    childNodeArgs: (process.env.BENCH_CHILD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
    /** Comma-separated section names to run (default: all). */
    only: (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    keepData: process.env.BENCH_KEEP_DATA === '1',
  })
}

export type BenchConfig = ReturnType<typeof loadBenchConfig>
