// Test factories: a Sluice runtime (any targets) isolated per test — its own topics, consumer
// group, ClickHouse database and data directory, ports chosen by the OS — with cleanup registered.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, inject, onTestFinished } from 'vitest'
import { createKafka } from '@sluice/kafka'
import { startRuntime } from '@sluice/runner'
import type { Runtime, Target } from '@sluice/runner'
import { createLogger } from '@sluice/observability'
import { REPO_ROOT } from './providers.js'
import { deleteTopics } from './topics.js'
import type { Infra } from './providers.js'

export interface Isolation {
  env: Record<string, string>
  /** What every topic name of this isolation starts with (`t<id>.`). */
  topicPrefix: string
  topicRaw: string
  topicEnriched: string
  topicDlq: string
  database: string
  dataDir: string
}

/**
 * Unique names for one test; reuse the same isolation to restart services on the same data.
 * When the test ends (after its services stopped) its data directory and its topics go: a dev
 * stack kept between runs would otherwise gather thousands of topics, and the broker's heap
 * fills with their metrics until its garbage collector takes a core for seconds at a time.
 */
export function isolation(extra: Record<string, string> = {}): Isolation {
  const infra = inject('infra')
  const iso = isolationOn(infra, extra)
  onTestFinished(async () => {
    rmSync(iso.dataDir, { recursive: true, force: true })
    await dropTopics(infra, iso.topicPrefix)
  })
  return iso
}

/** Best effort: deletes every topic whose name starts with `prefix`. */
async function dropTopics(infra: Infra, prefix: string): Promise<void> {
  const kafka = createKafka({ brokers: infra.kafkaBrokers.split(','), clientId: 'sluice-tests', logger: createLogger({ level: 'silent' }) })
  // A topic left behind costs nothing to this run.
  await deleteTopics(kafka, [], prefix).catch(() => undefined)
}

/** The same outside a test (scripts such as the fuzz run): the caller removes `dataDir`. */
export function isolationOn(infra: Infra, extra: Record<string, string> = {}): Isolation {
  const id = randomBytes(4).toString('hex')
  const topicPrefix = `t${id}.`
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sluice-test-'))
  const topicRaw = `${topicPrefix}logs.raw`
  const topicEnriched = `${topicPrefix}logs.enriched`
  const topicDlq = `${topicPrefix}logs.dlq`
  const database = `t_${id}`
  const env: Record<string, string> = {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    HOST: '127.0.0.1',
    KAFKA_BROKERS: infra.kafkaBrokers,
    SCHEMA_REGISTRY_URL: infra.registryUrl,
    TOPIC_LOGS_RAW: topicRaw,
    TOPIC_LOGS_ENRICHED: topicEnriched,
    TOPIC_LOGS_DLQ: topicDlq,
    CLICKHOUSE_DATABASE: database,
    CLICKHOUSE_DATA_DIR: dataDir,
    GATEWAY_PORT: '0',
    // Off unless a test asks (0 switches a listener off): parallel runtimes would share 5514, 24224, 12201, 5044, 8123.
    SYSLOG_TCP_PORT: '0',
    SYSLOG_UDP_PORT: '0',
    FORWARD_PORT: '0',
    GELF_UDP_PORT: '0',
    GELF_TCP_PORT: '0',
    BEATS_PORT: '0',
    GATEWAY_OTLP_GRPC_PORT: '0',
    CLICKHOUSE_HTTP_PORT: '0',
    QUERY_API_PORT: '0',
    SINK_PORT: '0',
    ENRICHER_PORT: '0',
    WS_PORT: '0',
    TOPIC_ALERTS: `${topicPrefix}alerts`,
    TOPIC_AUDIT: `${topicPrefix}audit`,
    ENRICHER_GROUP_ID: `enricher-${id}`,
    ALERTER_GROUP_ID: `alerter-${id}`,
    ALERTER_PORT: '0',
    ALERTER_SECRETS_KEY_FILE: path.join(dataDir, 'alerter-secrets.key'),
    CONNECTORS_PORT: '0',
    CONNECTORS_GROUP_ID: `connectors-${id}`,
    TOPIC_CONNECTIONS: `${topicPrefix}connectors.connections`,
    TOPIC_CONNECTOR_CHECKPOINTS: `${topicPrefix}connectors.checkpoints`,
    TOPIC_CONNECTOR_LEASES: `${topicPrefix}connectors.leases`,
    CONNECTORS_ENCRYPTION_KEY_FILE: path.join(dataDir, 'connectors-encryption.key'),
    SINK_GROUP_ID: `sink-${id}`,
    SINK_FLUSH_INTERVAL_MS: '200',
    SLUICE_STARTUP_TIMEOUT_MS: '60000',
    ...(infra.clickhouseUrl ? { CLICKHOUSE_URL: infra.clickhouseUrl } : {}),
    ...extra,
  }
  return { env, topicPrefix, topicRaw, topicEnriched, topicDlq, database, dataDir }
}

export async function startSluice(targets: Target[], iso: Isolation): Promise<Runtime> {
  const runtime = await startRuntime({ targets, env: iso.env, logger: createLogger({ level: 'warn' }) })
  onTestFinished(() => runtime.close())
  return runtime
}

/**
 * One runtime for every test of the describe block that calls this while it is collected (as
 * startSluice is one for a test): started before its first test on an isolation of its own, with
 * `extra` read then (so it may use what an earlier beforeAll made), closed after its last test, its
 * data directory and topics removed then. The returned function gives the tests the runtime.
 */
export function sharedSluice(targets: Target[], extra: () => Record<string, string> | Promise<Record<string, string>>): () => Runtime {
  let runtime: Runtime | undefined
  let iso: Isolation | undefined
  beforeAll(async () => {
    iso = isolationOn(inject('infra'), await extra())
    runtime = await startRuntime({ targets, env: iso.env, logger: createLogger({ level: 'warn' }) })
  })
  afterAll(async () => {
    await runtime?.close()
    if (iso === undefined) return
    rmSync(iso.dataDir, { recursive: true, force: true })
    await dropTopics(inject('infra'), iso.topicPrefix)
  })
  return () => {
    if (runtime === undefined) throw new Error('the shared Sluice runtime did not start (its beforeAll failed)')
    return runtime
  }
}

export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export interface SluiceProcess {
  child: ChildProcess
  /** The address `wait` listens on. */
  url: string
  /** Every target's address printed so far (by the time `wait` listens, those started before it). */
  urls: Record<string, string>
}

/**
 * Runs `sluice run --target <targets>` as a child process (from source, or the production bundle
 * with `bundle`), so a test can SIGKILL it; resolves with the address of target `wait` once it
 * listens. Killed when the test finishes.
 */
export function startSluiceProcess(targets: string, wait: Target, env: Record<string, string>, opts: { bundle?: boolean; nodeArgs?: readonly string[] } = {}): Promise<SluiceProcess> {
  const entry = [...(opts.nodeArgs ?? []), ...(opts.bundle ? [path.join(REPO_ROOT, 'dist/sluice.mjs')] : ['--conditions=source', '--import', 'tsx', path.join(REPO_ROOT, 'services/runner/src/main.ts')])]
  const child = spawn(process.execPath, [...entry, 'run', '--target', targets], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const listening = new RegExp(`${wait} listening on (\\S+)`)
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = listening.exec(out)
      if (m?.[1]) resolve({ child, url: m[1], urls: Object.fromEntries([...out.matchAll(/sluice (\S+) listening on (\S+)/g)].map((l) => [l[1]!, l[2]!])) })
    })
    child.on('exit', (code) => reject(new Error(`sluice ${targets} exited with ${code}: ${stderr.slice(-2000)}`)))
  })
}
