// One runtime runs any set of targets in one process (Loki's -target model). It iterates the
// service descriptors (modules.ts): every chosen service's configuration is parsed and reported
// at once before anything connects; shared clients are created once, only for the services that
// need them; stages of co-located services reading the same topics share one consumer runner; and
// everything is closed in reverse order on shutdown.
//   all             every service, embedded ClickHouse
//   gateway,...     any subset, e.g. one role per process in production
import path from 'node:path'
import type { Logger } from 'pino'
import type { Alert, EnrichedLog, LogEvent } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import { ConfigError } from '@sluice/config'
import type { Env } from '@sluice/config'
import { BatchingProducer, ConsumerRunner, DeadLetterQueue, createKafka, ensureTopics, pingKafka, planRunners } from '@sluice/kafka'
import type { Kafka, StageConsumer, TopicSpec } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc, pingRegistry, schemasDir } from '@sluice/registry'
import { createClickHouse, createHttpInterface, migrate, pingClickHouse } from '@sluice/clickhouse'
import type { ClickHouseHandle, HttpInterface } from '@sluice/clickhouse'
import { createLogger, createRegistry } from '@sluice/observability'
import { createProcessSecurity } from '@sluice/auth'
import type { Auth } from '@sluice/auth'
import { clickhouseAuditWriter, kafkaAuditWriter } from '@sluice/clickhouse-sink'
import type { HealthCheck, Registry } from '@sluice/observability'
import type { AnyServiceModule, Codecs, DepsFor, ServiceInstance, ServiceNeeds } from '@sluice/service'
import { loadConfig } from './config.js'
import type { RuntimeConfig } from './config.js'
import { MODULES, TARGETS, parseTargets } from './modules.js'
import type { Target } from './modules.js'

export { loadConfig } from './config.js'
export { NODE_FLAGS } from './node-flags.js'
export type { RuntimeConfig } from './config.js'
export { MODULES, TARGETS, parseTargets }
export type { Target }

/** What listens besides the targets: ClickHouse's HTTP interface for analysts (embedded mode). */
export type Listener = Target | 'clickhouse-http'

export interface Runtime {
  logger: Logger
  registry: Registry
  /** Addresses the services listen on, by target, and the analysts' ClickHouse HTTP interface when it runs. */
  addresses: Partial<Record<Listener, string>>
  clickhouse?: ClickHouseHandle
  close(): Promise<void>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Retries `fn` until it succeeds or the deadline passes; start-up waits for dependencies. */
async function untilReady<T>(what: string, deadline: number, log: Logger, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (err) {
      if (isSluiceError(err) && !err.canRetry) throw err
      if (Date.now() > deadline) throw new Error(`${what} not reachable: ${errorMessage(err)}`, { cause: err })
      if (attempt % 5 === 0) log.warn({ err: errorMessage(err) }, `waiting for ${what}`)
      await sleep(Math.min(2000, 200 * 2 ** attempt))
    }
  }
}

interface Chosen {
  module: AnyServiceModule
  config: unknown
}

/** Parses the process's and every chosen service's configuration; all issues in one ConfigError. */
export function loadConfigs(targets: readonly Target[], env: Env): { runtime: RuntimeConfig; services: Chosen[] } {
  const issues: string[] = []
  const attempt = <T>(load: () => T): T | undefined => {
    try {
      return load()
    } catch (err) {
      if (err instanceof ConfigError) issues.push(...err.issues)
      else issues.push(errorMessage(err))
      return undefined
    }
  }
  const runtime = attempt(() => loadConfig(env))
  const services: Chosen[] = []
  for (const module of MODULES as readonly AnyServiceModule[]) {
    if (!targets.includes(module.name as Target)) continue
    const config = attempt(() => module.loadConfig(env))
    if (config !== undefined) services.push({ module, config })
  }
  if (issues.length > 0 || !runtime) throw new ConfigError([...new Set(issues)])
  return { runtime, services }
}

export interface StartOptions {
  targets: Target[]
  env?: Env
  logger?: Logger
  registry?: Registry
}

export async function startRuntime(opts: StartOptions): Promise<Runtime> {
  const env = opts.env ?? process.env
  const { runtime: config, services } = loadConfigs(opts.targets, env)
  const logger = opts.logger ?? createLogger({ level: config.logLevel })
  const registry = opts.registry ?? createRegistry()
  const deadline = Date.now() + config.startupTimeoutMs
  const closers: Array<() => Promise<void>> = []
  const addresses: Partial<Record<Listener, string>> = {}
  const needs = (need: keyof ServiceNeeds) => services.some((s) => s.module.needs[need])

  const close = async () => {
    for (const c of closers.reverse()) {
      try {
        await c()
      } catch (err) {
        logger.warn({ err }, 'error during shutdown')
      }
    }
    closers.length = 0
  }

  try {
    const infra: Record<string, HealthCheck> = {}
    let kafka: Kafka | undefined
    let producer: BatchingProducer | undefined
    let codecs: Codecs | undefined
    let clickhouse: ClickHouseHandle | undefined
    let analystSql: HttpInterface | undefined
    // Set before any service listens; the analysts' SQL interface reads it per request.
    const processAuth: { auth?: Auth } = {}

    if (needs('kafka') || needs('registry')) {
      const k = createKafka({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, logger })
      kafka = k
      infra.kafka = () => pingKafka(k)
      const topic = (name: string, extra: { compacted?: boolean; partitions?: number; retentionMs?: number } = {}): TopicSpec => ({
        topic: name,
        numPartitions: extra.partitions ?? config.kafka.partitions,
        replicationFactor: config.kafka.replicationFactor,
        minInsyncReplicas: config.kafka.minInsyncReplicas,
        ...((extra.compacted || extra.retentionMs !== undefined) && {
          configs: { ...(extra.compacted && { 'cleanup.policy': 'compact' }), ...(extra.retentionMs !== undefined && { 'retention.ms': String(extra.retentionMs) }) },
        }),
      })
      const topics = [
        topic(config.kafka.topicRaw),
        topic(config.kafka.topicEnriched),
        topic(config.kafka.topicDlq),
        // Keyed by alert id: compaction keeps each alert's latest state.
        topic(config.kafka.topicAlerts, { compacted: true }),
        // Audit rows of processes without ClickHouse; the sink stores them (clickhouse-sink/src/audit.ts).
        topic(config.kafka.topicAudit),
        ...services.flatMap((s) => s.module.topics?.(s.config) ?? []).map((t) => topic(t.topic, t)),
      ]
      await untilReady('Kafka', deadline, logger, () => ensureTopics(k, topics))
      const p = new BatchingProducer(k, { produceTimeoutMs: config.kafka.produceTimeoutMs })
      producer = p
      await untilReady('Kafka producer', deadline, logger, () => p.connect())
      closers.push(() => p.close())

      const schemaRegistry = createRegistryClient(config.registryUrl)
      infra.registry = () => pingRegistry(config.registryUrl)
      const register = <T>(subject: string, file: string) => untilReady('schema registry', deadline, logger, () => AvroCodec.register<T>(schemaRegistry, subject, loadAvsc(file)))
      codecs = {
        raw: await register<LogEvent>(`${config.kafka.topicRaw}-value`, 'log-event.avsc'),
        enriched: await register<EnrichedLog>(`${config.kafka.topicEnriched}-value`, 'enriched-log.avsc'),
        alert: await register<Alert>(`${config.kafka.topicAlerts}-value`, 'alert.avsc'),
      }
    }

    if (needs('clickhouse')) {
      const ch = await createClickHouse({ ...config.clickhouse })
      clickhouse = ch
      closers.push(() => ch.client.close())
      infra.clickhouse = () => pingClickHouse(ch.client)
      const applied = await untilReady('ClickHouse', deadline, logger, () =>
        migrate(ch.client, { database: config.clickhouse.database, ttlDays: config.clickhouse.ttlDays, cluster: config.clickhouse.cluster, dir: path.join(schemasDir(), 'clickhouse') }),
      )
      logger.info({ clickhouse: ch.mode, location: ch.location, applied }, 'ClickHouse ready')
      // The embedded data directory belongs to this process: analysts query it through here.
      if (ch.mode === 'embedded' && config.clickhouseHttp.port !== 0) {
        // With SLUICE_AUTH, API keys (scope query) work as passwords, scoped to their tenant.
        const apiKeys = config.security.authEnabled ? (c: { user: string; password: string }) => sqlKeyAccess(processAuth.auth!, c) : undefined
        analystSql = createHttpInterface(ch, { ...config.clickhouseHttp, apiKeys, logger: logger.child({ component: 'clickhouse-http' }) })
      }
    }

    // Audit rows go to the audit table: directly where this process holds ClickHouse, else through
    // the audit topic to a process running the sink; with neither, to the log only.
    const auditWriter = clickhouse
      ? clickhouseAuditWriter(clickhouse.client, config.clickhouse.database)
      : producer
        ? kafkaAuditWriter(producer, config.kafka.topicAudit)
        : undefined
    const security = createProcessSecurity(config.security, { log: logger, retentionDays: config.clickhouse.ttlDays, auditWriter })
    processAuth.auth = security.auth
    closers.push(() => security.close())
    if (config.security.authEnabled) logger.info({ keys: config.security.keys.keys.length }, 'API keys required (SLUICE_AUTH=true)')

    // Each service: its dependencies' checks, plus `consumer` once its stages run (added below;
    // the app reads the checks object on every request).
    const runners: Array<{ runner: ConsumerRunner; stages: ReadonlyArray<{ stage: unknown }> }> = []
    const created: Array<{ name: Target; instance: ServiceInstance; checks: Record<string, HealthCheck> }> = []
    for (const { module, config: serviceConfig } of services) {
      const checks: Record<string, HealthCheck> = {}
      if (module.needs.kafka) checks.kafka = infra.kafka!
      if (module.needs.registry) checks.registry = infra.registry!
      if (module.needs.clickhouse) checks.clickhouse = infra.clickhouse!
      const deps = { logger, registry, checks, clock: Date.now, security: security.forService(module.name), kafka, producer, codecs, registryUrl: config.registryUrl, clickhouse } as DepsFor<Required<ServiceNeeds>>
      created.push({ name: module.name as Target, instance: module.create(serviceConfig, deps), checks })
    }

    for (const { name, instance } of created) {
      if (!instance.start) continue
      await instance.start()
      logger.debug({ target: name }, 'service started')
    }
    for (const { instance } of created.slice().reverse()) if (instance.close) closers.push(() => instance.close!())

    // Consumers: co-located stages reading the same topics share a runner (plan.ts).
    const consumers: Array<StageConsumer & { owner: Target }> = created.flatMap((c) => (c.instance.consumers ?? []).map((s) => ({ ...s, owner: c.name })))
    if (consumers.length > 0) {
      const dlq = new DeadLetterQueue(producer!, config.kafka.topicDlq)
      for (const plan of planRunners(consumers)) {
        const runner = new ConsumerRunner({ kafka: kafka!, dlq, logger, registry, ...plan, sessionTimeoutMs: plan.sessionTimeoutMs ?? config.kafka.sessionTimeoutMs })
        runners.push({ runner, stages: plan.stages })
        await runner.start()
        closers.push(() => runner.close())
        logger.info({ runner: plan.name, group: plan.groupId, topics: plan.topics }, 'consumer running')
      }
      for (const c of created) {
        const mine = runners.filter((r) => c.instance.consumers?.some((s) => r.stages.some((x) => x.stage === s.stage))).map((r) => r.runner)
        if (mine.length === 0) continue
        c.checks.consumer = async () => {
          const stopped = mine.filter((r) => !r.running)
          if (stopped.length > 0) throw new Error(`consumer ${stopped.map((r) => r.name).join(', ')} not running`)
        }
      }
    }

    // Consumers first, the gateway last: by the time it accepts records, everything else runs.
    for (const { name, instance } of created) {
      addresses[name] = await instance.app.listen(instance.listen)
      closers.push(() => instance.app.close())
      logger.info({ target: name, address: addresses[name] }, 'started')
    }
    if (analystSql) {
      const sql = analystSql
      addresses['clickhouse-http'] = await sql.listen()
      closers.push(() => sql.close())
      const { user, password, tenant, serviceUser, servicePassword } = config.clickhouseHttp
      const service = servicePassword === '' ? 'off' : serviceUser
      logger.info({ address: addresses['clickhouse-http'], user, access: password === '' ? 'this host only (no password)' : 'password', ...(tenant !== undefined && { tenant }), service }, 'ClickHouse HTTP interface for analysts (read-only) started')
    }
    return { logger, registry, addresses, ...(clickhouse && { clickhouse }), close }
  } catch (err) {
    await close()
    throw err
  }
}

/**
 * An API key as the password of the analysts' SQL interface (clickhouse-connect, JDBC, Grafana's
 * ClickHouse data source send user and password): it needs the query scope, and its queries see
 * its tenant's rows — the user name chooses among a key's several tenants, a `*` key sees every
 * tenant. Undefined when the password is no valid key: the configured user is checked instead.
 */
export function sqlKeyAccess(auth: Auth, c: { user: string; password: string }): { tenant: string | undefined } | { refused: string } | undefined {
  if (c.password === '') return undefined
  let principal
  try {
    principal = auth.authenticate({ 'x-api-key': c.password }, 'query')
  } catch (err) {
    return isSluiceError(err) && err.code === 'FORBIDDEN' ? { refused: err.message } : undefined
  }
  if (principal === null) return undefined
  if (principal.tenants === '*') return { tenant: undefined }
  return { tenant: principal.tenants.includes(c.user) ? c.user : principal.tenants[0] }
}
