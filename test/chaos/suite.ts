// The fault suite: a three-broker cluster, two instances of every Sluice target (the ClickHouse
// host holds the embedded engine and serves it to the sinks over ClickHouse's HTTP interface,
// through a proxy that can refuse), steady load through the gateways, and one fault after another.
// Per fault it reports what was acknowledged, stored, lost (must be 0), duplicates absorbed,
// requests refused and with which status, and how long the consumers stalled.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, rmSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { createKafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { ChaosCluster, TcpProxy } from './cluster.js'
import { Fleet } from './fleet.js'
import { GroupMonitor } from './groups.js'
import { LoadGenerator } from './load.js'
import { freePort } from '../infra/ports.js'

const exec = promisify(execFile)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** The targets run twice each; the ClickHouse host (query-api, embedded engine) runs once. */
export const SCALED_TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'alerter', 'ws-fanout', 'connectors'] as const

export interface FaultContext {
  cluster: ChaosCluster
  fleet: Fleet
  proxy: TcpProxy
  /** The logs table's own directory in the embedded engine, bind-mounted onto itself (when it could be). */
  logsDir: string | undefined
}

export interface Fault {
  name: string
  /** What is done, for the table. */
  what: string
  inject(ctx: FaultContext): Promise<void>
  /** Undone after `holdMs`; absent: the fault stays (a broker that stays down). */
  heal?(ctx: FaultContext): Promise<void>
  holdMs: number
  /** The consumers' stall is counted from the fault (a crash) or from its end (an outage that lifts). */
  stallFrom: 'fault' | 'heal'
}

const killMember = (fault: string, name: string, holdMs = 20_000): Fault => ({
  name: fault,
  what: `${name} SIGKILLed mid-batch (the other instance carries on), started again after ${holdMs / 1000} s`,
  inject: (c) => c.fleet.kill(name),
  heal: async (c) => void (await c.fleet.restart(name)),
  holdMs,
  stallFrom: 'fault',
})

export const FAULTS: Record<string, Fault> = {
  'broker-down': { name: 'broker-down', what: 'broker kafka-3 SIGKILLed, stays down', inject: (c) => c.cluster.kill('kafka-3'), holdMs: 30_000, stallFrom: 'fault' },
  'second-broker-down': {
    name: 'second-broker-down',
    what: 'broker kafka-2 SIGKILLed too (one of three left: below min.insync.replicas), both started again after 20 s',
    inject: (c) => c.cluster.kill('kafka-2'),
    heal: (c) => c.cluster.up(),
    holdMs: 20_000,
    stallFrom: 'heal',
  },
  'stop-sink': {
    name: 'stop-sink',
    what: 'clickhouse-sink-1 stopped with SIGTERM (drains, commits, leaves its group), started again after 20 s',
    inject: (c) => c.fleet.terminate('clickhouse-sink-1'),
    heal: async (c) => void (await c.fleet.restart('clickhouse-sink-1')),
    holdMs: 20_000,
    stallFrom: 'fault',
  },
  'kill-gateway': killMember('kill-gateway', 'gateway-1'),
  'kill-enricher': killMember('kill-enricher', 'enricher-1'),
  'kill-sink': killMember('kill-sink', 'clickhouse-sink-1'),
  'kill-alerter': killMember('kill-alerter', 'alerter-1'),
  'kill-ws-fanout': killMember('kill-ws-fanout', 'ws-fanout-1'),
  'kill-connectors': killMember('kill-connectors', 'connectors-1'),
  'registry-down': { name: 'registry-down', what: 'schema registry SIGKILLed, started again after 30 s', inject: (c) => c.cluster.kill('registry'), heal: (c) => c.cluster.up(), holdMs: 30_000, stallFrom: 'heal' },
  'clickhouse-unreachable': {
    name: 'clickhouse-unreachable',
    what: "ClickHouse refuses connections for 30 s (the sinks' CLICKHOUSE_URL port closed, then open again)",
    inject: (c) => c.proxy.refuse(),
    heal: async (c) => void (await c.proxy.open()),
    holdMs: 30_000,
    stallFrom: 'heal',
  },
  'disk-read-only': {
    name: 'disk-read-only',
    what: "the logs table's storage in the embedded engine (its directory, a bind mount) read-only for 20 s, then writable again",
    inject: (c) => remount(c.logsDir!, 'ro'),
    heal: (c) => remount(c.logsDir!, 'rw'),
    holdMs: 20_000,
    stallFrom: 'heal',
  },
}

/**
 * The logs table's directory, bind-mounted onto itself once the engine runs, so that it alone can
 * turn read-only: Linux refuses to make a mount read-only while a file is open for writing through
 * it (EBUSY), and the engine keeps files of its data directory (its status lock) open for good. A
 * mount made after the engine started carries only what it opens later: parts being written.
 * (Mounted before start-up, it would break the engine's renames between its directories: EXDEV.)
 */
async function mountLogsDir(query: (sql: string) => Promise<string>): Promise<string | undefined> {
  const dir = (await query("SELECT arrayJoin(data_paths) FROM system.tables WHERE database = 'sluice' AND name = 'logs' FORMAT TSVRaw")).trim()
  return dir !== '' && (await bindMount(dir)) ? dir : undefined
}

/** Remounts a bind mount; a part being written keeps it busy for a moment, so it is tried again. */
async function remount(dir: string, mode: 'ro' | 'rw'): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await exec('mount', ['-o', `remount,${mode},bind`, dir])
      return
    } catch (err) {
      if (attempt >= 40 || !/busy/i.test(String((err as { stderr?: string }).stderr))) throw err
      await sleep(250)
    }
  }
}

/** A bind mount of the directory onto itself, so it can be made read-only alone; false if not permitted. */
async function bindMount(dir: string): Promise<boolean> {
  try {
    mkdirSync(dir, { recursive: true })
    await exec('mount', ['--bind', dir, dir])
    return true
  } catch {
    return false
  }
}

export interface FaultResult {
  fault: string
  what: string
  acked: number
  stored: number
  lost: number
  /** Rows beyond one per id (re-deliveries), before merges collapse them. */
  duplicates: number
  refused: Record<string, number>
  maxAckGapMs: number
  /** Per consumer group (by target): ms until every partition committed again. */
  stallMs: Record<string, number | undefined>
  /** Not run, and why. */
  skipped?: string
}

export interface SuiteOptions {
  faults: string[]
  recordsPerSecond: number
  /** Time under load before each fault and after it heals. */
  settleMs: number
  recoverMs: number
  /** Where the cluster's and the run's state go (wiped first). */
  dir: string
  kafkaPort: number
  registryPort: number
  log: (line: string) => void
}

export async function runSuite(o: SuiteOptions): Promise<FaultResult[]> {
  rmSync(o.dir, { recursive: true, force: true })
  const runDir = path.join(o.dir, 'run')
  const dataDir = path.join(runDir, 'clickhouse')
  mkdirSync(dataDir, { recursive: true })
  const cluster = new ChaosCluster({ dir: path.join(o.dir, 'stack'), brokers: 3, kafkaPort: o.kafkaPort, registryPort: o.registryPort })
  const fleet = new Fleet(path.join(o.dir, 'logs'))
  let proxy: TcpProxy | undefined
  let load: LoadGenerator | undefined
  let monitor: GroupMonitor | undefined
  let logsDir: string | undefined
  try {
    o.log('starting a 3-broker cluster and a schema registry…')
    await cluster.up()

    const id = randomBytes(3).toString('hex')
    const chPort = await freePort()
    const password = randomBytes(12).toString('hex')
    const groups = { enricher: `c${id}-enricher`, sink: `c${id}-sink`, alerter: `c${id}-alerter`, connectors: `c${id}-connectors` }
    const topics = { raw: `c${id}.logs.raw`, enriched: `c${id}.logs.enriched` }
    const base: Record<string, string> = {
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      KAFKA_BROKERS: cluster.brokers,
      SCHEMA_REGISTRY_URL: cluster.registryUrl,
      TOPIC_LOGS_RAW: topics.raw,
      TOPIC_LOGS_ENRICHED: topics.enriched,
      TOPIC_LOGS_DLQ: `c${id}.logs.dlq`,
      TOPIC_ALERTS: `c${id}.alerts`,
      TOPIC_AUDIT: `c${id}.audit`,
      TOPIC_CONNECTIONS: `c${id}.connectors.connections`,
      TOPIC_CONNECTOR_CHECKPOINTS: `c${id}.connectors.checkpoints`,
      TOPIC_CONNECTOR_LEASES: `c${id}.connectors.leases`,
      ENRICHER_GROUP_ID: groups.enricher,
      SINK_GROUP_ID: groups.sink,
      ALERTER_GROUP_ID: groups.alerter,
      CONNECTORS_GROUP_ID: groups.connectors,
      ALERTER_SECRETS_KEY_FILE: path.join(runDir, 'alerter-secrets.key'),
      CONNECTORS_ENCRYPTION_KEY_FILE: path.join(runDir, 'connectors-encryption.key'),
      GATEWAY_PORT: '0',
      SYSLOG_TCP_PORT: '0',
      SYSLOG_UDP_PORT: '0',
      GATEWAY_OTLP_GRPC_PORT: '0',
      FORWARD_PORT: '0',
      GELF_UDP_PORT: '0',
      GELF_TCP_PORT: '0',
      BEATS_PORT: '0',
      QUERY_API_PORT: '0',
      SINK_PORT: '0',
      ENRICHER_PORT: '0',
      ALERTER_PORT: '0',
      WS_PORT: '0',
      CONNECTORS_PORT: '0',
      CLICKHOUSE_HTTP_PORT: '0',
      CLICKHOUSE_DATABASE: 'sluice',
      SLUICE_AUTH: 'false',
    }

    o.log('starting the ClickHouse host and two instances of every target…')
    // The host first: it holds the data and creates the schema the others find.
    await fleet.start('clickhouse-host', 'query-api', {
      ...base,
      CLICKHOUSE_DATA_DIR: dataDir,
      CLICKHOUSE_HTTP_PORT: String(chPort),
      CLICKHOUSE_HTTP_SERVICE_PASSWORD: password,
    })
    const query = (sql: string, params: Record<string, string> = {}) => clickhouse(chPort, sql, params)
    if (o.faults.includes('disk-read-only')) logsDir = await mountLogsDir(query)
    proxy = new TcpProxy({ host: '127.0.0.1', port: chPort })
    await proxy.open()
    const remote = { CLICKHOUSE_URL: `http://127.0.0.1:${proxy.port}`, CLICKHOUSE_USER: 'sluice', CLICKHOUSE_PASSWORD: password }
    // Consumers before the gateways; instance 1 of each before instance 2 (one topic creator at a time).
    for (const n of [1, 2]) {
      await Promise.all(SCALED_TARGETS.map((t) => fleet.start(`${t}-${n}`, t, { ...base, ...(t === 'clickhouse-sink' && remote) })))
    }

    const kafka = createKafka({ brokers: cluster.brokers.split(','), clientId: 'chaos-monitor', logger: createLogger({ level: 'silent' }) })
    monitor = new GroupMonitor(kafka, [
      { group: groups.enricher, topic: topics.raw },
      { group: groups.sink, topic: topics.enriched },
      { group: groups.alerter, topic: topics.enriched },
    ])
    monitor.start()
    load = new LoadGenerator({ gateways: () => fleet.urls('gateway'), recordsPerSecond: o.recordsPerSecond, batchSize: 100, services: 24 })
    load.start()
    await sleep(o.settleMs)

    const ctx: FaultContext = { cluster, fleet, proxy, logsDir }
    const results: FaultResult[] = []
    for (const name of o.faults) {
      const fault = FAULTS[name]
      if (!fault) throw new Error(`unknown fault ${name}: choose from ${Object.keys(FAULTS).join(', ')}`)
      if (name === 'disk-read-only' && !logsDir) {
        results.push(emptyResult(fault, 'needs mount privileges (a bind mount of the data directory)'))
        continue
      }
      load.phase = name
      await sleep(o.settleMs)
      o.log(`fault ${name}: ${fault.what}`)
      const t0 = Date.now()
      try {
        await fault.inject(ctx)
      } catch (err) {
        // Not injected: said in the table, and the run goes on to the next fault.
        o.log(`fault ${name} could not be injected: ${String(err)}`)
        results.push(emptyResult(fault, `could not be injected: ${firstLine(err)}`))
        continue
      }
      await sleep(fault.holdMs)
      if (fault.heal) await fault.heal(ctx)
      const healedAt = Date.now()
      await sleep(o.recoverMs)
      // A crash: from the kill until the member comes back; an outage: from its end, for as long as we watch.
      const [from, to] = fault.stallFrom === 'fault' ? [t0, healedAt] : [healedAt, healedAt + o.recoverMs]
      const m = monitor
      results.push({
        ...emptyResult(fault),
        stallMs: { enricher: m.stall(groups.enricher, from, to), 'clickhouse-sink': m.stall(groups.sink, from, to), alerter: m.stall(groups.alerter, from, to) },
      })
    }
    load.phase = 'after'
    await sleep(o.settleMs)
    await load.stop()

    o.log('load stopped; waiting until every acknowledged record is stored…')
    const deadline = Date.now() + 300_000
    for (const r of results) {
      // A fault that could not be injected still had its records sent: they are checked too.
      const stats = load.phases.get(r.fault)
      if (!stats) continue
      let stored = new Map<string, number>()
      for (;;) {
        stored = await storedIds(query, r.fault)
        const missing = [...stats.acked].filter((i) => !stored.has(i)).length
        if (missing === 0 || Date.now() > deadline) break
        await sleep(2000)
      }
      r.acked = stats.acked.size
      r.stored = [...stats.acked].filter((i) => stored.has(i)).length
      r.lost = r.acked - r.stored
      r.duplicates = [...stored.values()].reduce((a, n) => a + n - 1, 0)
      r.refused = Object.fromEntries(stats.refused)
      r.maxAckGapMs = stats.maxAckGapMs
    }
    return results
  } finally {
    await load?.stop()
    await monitor?.stop()
    await fleet.stopAll(['clickhouse-host'])
    await proxy?.refuse()
    if (logsDir) await exec('umount', ['-l', logsDir]).catch(() => undefined)
    await cluster.down().catch(() => undefined)
  }
}

const firstLine = (err: unknown) => String((err as { stderr?: string }).stderr || (err instanceof Error ? err.message : err)).split('\n')[0]!.trim()

function emptyResult(fault: Fault, skipped?: string): FaultResult {
  return { fault: fault.name, what: fault.what, acked: 0, stored: 0, lost: 0, duplicates: 0, refused: {}, maxAckGapMs: 0, stallMs: {}, ...(skipped && { skipped }) }
}

/** Every id of the phase stored, with how many rows hold it. */
async function storedIds(query: (sql: string, p: Record<string, string>) => Promise<string>, phase: string): Promise<Map<string, number>> {
  const tsv = await query('SELECT id, count() FROM logs WHERE startsWith(id, {prefix:String}) GROUP BY id FORMAT TSV', { prefix: `${phase}:` })
  const m = new Map<string, number>()
  for (const line of tsv.split('\n')) {
    if (!line) continue
    const [id, n] = line.split('\t')
    m.set(id!, Number(n))
  }
  return m
}

async function clickhouse(port: number, sql: string, params: Record<string, string>): Promise<string> {
  const url = new URL(`http://127.0.0.1:${port}/`)
  url.searchParams.set('database', 'sluice')
  for (const [k, v] of Object.entries(params)) url.searchParams.set(`param_${k}`, v)
  const res = await fetch(url, { method: 'POST', body: sql })
  const text = await res.text()
  if (!res.ok) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 300)}`)
  return text
}

/** The README's table. */
export function resultTable(results: readonly FaultResult[]): string {
  const secs = (ms: number | undefined) => (ms === undefined ? '–' : `${(ms / 1000).toFixed(1)}`)
  const rows = results.map((r) =>
    r.skipped
      ? `| ${r.fault} | not run: ${r.skipped} | | | | | | |`
      : `| ${r.fault} | ${r.acked} | ${r.stored} | **${r.lost}** | ${r.duplicates} | ${Object.entries(r.refused).map(([k, v]) => `${v}× ${k}`).join(', ') || '0'} | ${secs(r.maxAckGapMs)} | ${Object.entries(r.stallMs).map(([k, v]) => `${k} ${secs(v)}`).join(', ')} |`,
  )
  return ['| fault | acknowledged | stored | lost | duplicate rows | refused (attempts) | longest ack gap (s) | consumers resumed after (s) |', '| --- | --- | --- | --- | --- | --- | --- | --- |', ...rows].join('\n')
}
