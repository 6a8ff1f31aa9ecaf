// Settings of the query benchmark, read from the environment by the section and by its child
// alike (the child inherits the bench's environment). Units live in the names.
import path from 'node:path'
import { REPO_ROOT } from '../infra/providers.js'

function envInt(name: string, def: number, min: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return def
  const n = Number(raw.replace(/_/g, ''))
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer ≥ ${min}`)
  return n
}

export function loadQueryBenchConfig() {
  return Object.freeze({
    /** Rows in the dataset; part of the cache key. */
    rows: envInt('BENCH_QUERY_ROWS', 10_000_000, 1000),
    /** Rows per INSERT … SELECT while generating (each needs ~1.5 GB of memory per million). */
    chunkRows: envInt('BENCH_QUERY_CHUNK_ROWS', 1_000_000, 1000),
    /**
     * Untimed passes over every question's API request before any is timed: the query API is a
     * long-running server, so its code is measured after the JIT compiled it, not while the first
     * questions pay for that.
     */
    serverWarmupRounds: envInt('BENCH_QUERY_SERVER_WARMUP_ROUNDS', 5, 0),
    /** Untimed rounds of each question before the timed ones. */
    warmupRuns: envInt('BENCH_QUERY_WARMUP_RUNS', 3, 0),
    /** Timed rounds of each question, API and SQL interleaved. */
    runs: envInt('BENCH_QUERY_RUNS', 20, 1),
    /** A question stops repeating after this long, once it has at least `minRuns` rounds. */
    caseMaxS: envInt('BENCH_QUERY_CASE_MAX_S', 40, 1),
    minRuns: 5,
    requestTimeoutMs: envInt('BENCH_QUERY_REQUEST_TIMEOUT_MS', 60_000, 100),
    /** Records of the export measured (/v1/logs/export, every service, the last 6 h); 0: none. */
    exportRows: envInt('BENCH_QUERY_EXPORT_ROWS', 200_000, 0),
    /** The child (generation included) is killed after this long. */
    maxS: envInt('BENCH_QUERY_MAX_S', 1800, 10),
    /** Datasets live under <cacheDir>/<key>/: git-ignored, kept between runs. */
    cacheDir: path.join(REPO_ROOT, '.cache', 'bench-query'),
    database: 'bench_query',
    /** The product's default retention (CLICKHOUSE_TTL_DAYS); a dataset older than 2/3 of it is regenerated. */
    ttlDays: 30,
  })
}

export type QueryBenchConfig = ReturnType<typeof loadQueryBenchConfig>
