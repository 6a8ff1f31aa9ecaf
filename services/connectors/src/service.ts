// Connectors: pull logs from cloud providers' log services into logs.raw, as the gateway would
// take them (source `connector`, idempotent producer, acks=all).
//   connections.ts   the connections (API-made, credentials sealed, every instance reads them all)
//   poller.ts        one connection's loop: windows, pages, duplicates, late data, backoff
//   providers/       one client per provider, through its official SDK
// Which instance runs a connection: the instances form a consumer group over the (empty) leases
// topic; a stateful stage on the one runner is told which partitions it holds, and a connection
// runs where the partition of its key is held. An instance that dies loses its partitions after
// the session timeout and another takes its connections over from their checkpoints.
// The API acts as the tenant of the request's key (SLUICE_AUTH=true; naming another is a 403), or
// the one it names (x-sluice-tenant / X-Scope-OrgID, ?tenant=) when authentication is off, else
// CONNECTORS_DEFAULT_TENANT; changes to connections are audited. Changes to one tenant's
// connections take turns (in this process): each reads the connection as the previous change left it.
import { createHash, randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import { SecretBox, TENANT_PATTERN, errorMessage, loadSecretsKey, parseSecretsKey } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import { CompactedStore } from '@sluice/kafka'
import type { Message, Stage } from '@sluice/kafka'
import { counter, createHttpApp, gauge } from '@sluice/observability'
import type { ZodTypeProvider } from '@sluice/observability'
import type { DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { ConnectionStore, connectionInput, connectionKey, parseSettings, showConnection, withKeptSecrets } from './connections.js'
import type { Connection } from './connections.js'
import { Limiter, Poller, withTimeout } from './poller.js'
import type { Checkpoint, ConnectionStatus, Refused } from './poller.js'
import { ProviderError } from './provider.js'
import { PROVIDERS } from './providers/index.js'

export type ConnectorsDeps = DepsFor<{ kafka: true; registry: true }>

const idParam = z.object({ id: z.string().min(1).max(64) })
const tenantQuery = z.object({ tenant: z.string().regex(TENANT_PATTERN).optional() })

/**
 * The largest record (key + encoded value) produced, as the gateway's GATEWAY_MAX_RECORD_BYTES
 * default: under the broker's message.max.bytes (1 MiB) and the producer's maxBatchBytes, so one
 * record never fails the produce request that carries its page's other records.
 */
export const MAX_RECORD_BYTES = 1_000_000

/** A page's LogEvents as Kafka messages for logs.raw (key tenant/service), leaving out those over `maxRecordBytes`. */
export function rawMessages(events: readonly LogEvent[], encode: (e: LogEvent) => Buffer, maxRecordBytes = MAX_RECORD_BYTES): { messages: Message[]; refused: Refused[] } {
  const messages: Message[] = []
  const refused: Refused[] = []
  for (const e of events) {
    const key = `${e.tenant}/${e.service}`
    const value = encode(e)
    const bytes = value.length + Buffer.byteLength(key)
    if (bytes > maxRecordBytes) refused.push({ id: e.id, bytes, limit: maxRecordBytes })
    else messages.push({ key, value })
  }
  return { messages, refused }
}

/** The lease partition of a connection: a stable hash of its key. */
export function leaseOf(key: string, partitions: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % partitions
}

export function createService(config: Config, deps: ConnectorsDeps) {
  const log = deps.logger.child({ service: 'connectors' })
  const r = deps.registry
  const instance = randomUUID()
  const labels = ['provider', 'connection']
  const m = {
    records: counter(r, 'sluice_connector_records_total', 'Provider entries produced to logs.raw.', labels),
    polls: counter(r, 'sluice_connector_polls_total', 'Polls of a connection, by result (ok|error).', [...labels, 'result']),
    errors: counter(r, 'sluice_connector_errors_total', 'Failed polls, by the provider error code.', [...labels, 'code']),
    throttles: counter(r, 'sluice_connector_throttles_total', 'Polls the provider throttled.', labels),
    invalid: counter(r, 'sluice_connector_invalid_entries_total', 'Provider entries Sluice could not take, by reason (one example per reason and poll logged).', [...labels, 'reason']),
    lag: gauge(r, 'sluice_connector_lag_seconds', 'From the newest entry taken to the last successful poll.', labels),
    running: gauge(r, 'sluice_connector_running', 'Connections this instance runs.'),
  }
  const secrets = loadSecretsKey({ key: config.encryptionKey, file: config.encryptionKeyFile })
  if (secrets.source === 'new file') log.warn({ file: config.encryptionKeyFile }, 'made a new encryption key for connection credentials; every connectors instance needs the same key (CONNECTORS_ENCRYPTION_KEY)')
  const box = new SecretBox(secrets.key, config.previousKeys.map(parseSecretsKey))
  const limiter = new Limiter(config.poll.maxConcurrentCalls)
  const pollers = new Map<string, { poller: Poller; updatedAt: string }>()
  const owned = new Set<number>()
  let leasePartitions = config.leasePartitions
  let closing = false

  const checkpoints = new CompactedStore({ kafka: deps.kafka, producer: deps.producer, topic: config.topicCheckpoints, readerGroupPrefix: `${config.groupId}.checkpoints`, logger: log })
  const checkpointOf = (key: string): Checkpoint | undefined => {
    const bytes = checkpoints.get(key)
    return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as Checkpoint)
  }

  const produce = async (events: LogEvent[]): Promise<Refused[]> => {
    const { messages, refused } = rawMessages(events, (e) => deps.codecs.raw.encode(e))
    if (messages.length > 0) await deps.producer.send(config.topicRaw, messages)
    return refused
  }

  const startPoller = (c: Connection): void => {
    const key = connectionKey(c.tenant, c.id)
    const l = { provider: c.provider, connection: c.id }
    const poller = new Poller({
      connection: c,
      client: PROVIDERS[c.provider].connect(c.settings),
      checkpoint: checkpointOf(key),
      options: { ...config.poll, intervalMs: c.poll_interval_ms ?? config.poll.intervalMs, lookbackMs: c.lookback_ms ?? config.poll.lookbackMs },
      limiter,
      produce,
      save: async (cp) => void (await checkpoints.put([{ key, value: Buffer.from(JSON.stringify(cp)) }])),
      metrics: {
        records: (n) => m.records.inc(l, n),
        poll: (result) => m.polls.inc({ ...l, result }),
        error: (code) => m.errors.inc({ ...l, code }),
        throttled: () => m.throttles.inc(l),
        lag: (s) => m.lag.set(l, s),
        invalid: (n, reason) => m.invalid.inc({ ...l, reason }, n),
      },
      logger: log.child({ connection: c.id, tenant: c.tenant, provider: c.provider }),
      instance,
    })
    pollers.set(key, { poller, updatedAt: c.updated_at })
    poller.start()
    log.info({ connection: c.id, tenant: c.tenant, provider: c.provider }, 'connection started')
  }

  const stopPoller = async (key: string): Promise<void> => {
    const p = pollers.get(key)
    if (p === undefined) return
    pollers.delete(key)
    await p.poller.stop()
  }

  /** Runs exactly the enabled connections whose lease this instance holds, each with its latest settings. */
  let reconciling: Promise<void> = Promise.resolve()
  const reconcile = (): Promise<void> => {
    reconciling = reconciling.then(async () => {
      const want = new Map(closing ? [] : connections.all().filter((c) => c.enabled && owned.has(leaseOf(connectionKey(c.tenant, c.id), leasePartitions))).map((c) => [connectionKey(c.tenant, c.id), c]))
      for (const [key, p] of [...pollers]) if (want.get(key)?.updated_at !== p.updatedAt) await stopPoller(key)
      for (const [key, c] of want) if (!pollers.has(key)) startPoller(c)
      m.running.set(pollers.size)
    }).catch((err: unknown) => log.error({ err: errorMessage(err) }, 'reconciling connections failed'))
    return reconciling
  }

  const connections = new ConnectionStore({
    kafka: deps.kafka,
    producer: deps.producer,
    topic: config.topicConnections,
    groupId: config.groupId,
    box,
    listener: { set: () => void reconcile(), remove: () => void reconcile() },
    logger: log,
  })

  // The leases: a stage that is only told which partitions it holds.
  const stage: Stage<unknown, never> = {
    name: 'connectors',
    flush: { maxRecords: 1, intervalMs: 1000 },
    state: {
      checkpointIntervalMs: 5000,
      open: async (_topic, partition) => {
        owned.add(partition)
        await reconcile()
        return undefined
      },
      close: (_topic, partition) => {
        owned.delete(partition)
        void reconcile()
      },
      capture: async () => undefined,
    },
    transform: () => ({ outputs: [] }),
    sink: async () => undefined,
  }

  const app = createHttpApp({
    name: 'connectors',
    description: "Pull logs from cloud providers' log services (AWS CloudWatch Logs, Azure Monitor, Google Cloud Logging) into Sluice: the connections, their tests and status.",
    logger: log,
    registry: r,
    checks: deps.checks,
    access: { security: deps.security, scope: 'admin' },
  })

  void app.register(async (plain) => {
    const api = plain.withTypeProvider<ZodTypeProvider>()
    const tags = ['connections']
    /** The tenant a request acts as; throws FORBIDDEN (another tenant than its key's) or VALIDATION_FAILED. */
    const tenantOf = (req: FastifyRequest): string =>
      req.access.tenant(requestedTenant(req, TENANT_HEADERS, (req.query as { tenant?: string }).tenant), config.defaultTenant)
    type Change = 'create' | 'update' | 'delete' | 'start' | 'stop'
    const audit = (req: FastifyRequest, change: Change, c: Pick<Connection, 'tenant' | 'id' | 'name' | 'provider'>) =>
      req.access.audit({ action: `connection.${change}`, outcome: 'ok', tenant: c.tenant, target: c.id, details: { name: c.name, provider: c.provider } })
    // Changes to a tenant's connections, one at a time: a change reads the connection (and the
    // names) only once the one before it is written, so none works from a state another replaced.
    const turns = new Map<string, Promise<unknown>>()
    const inTurn = <T>(tenant: string, change: () => Promise<T>): Promise<T> => {
      const next = (turns.get(tenant) ?? Promise.resolve()).then(change)
      const settled = next.catch(() => undefined)
      turns.set(tenant, settled)
      void settled.then(() => {
        if (turns.get(tenant) === settled) turns.delete(tenant)
      })
      return next
    }
    const found = (tenant: string, id: string, reply: FastifyReply): Connection | undefined => {
      const c = connections.get(tenant, id)
      if (c === undefined) void reply.code(404).send({ error: 'NOT_FOUND', message: `no connection ${id} for tenant ${tenant}` })
      return c
    }
    const statusOf = (c: Connection): ConnectionStatus | { state: 'stopped' | 'pending' } => {
      const key = connectionKey(c.tenant, c.id)
      const local = pollers.get(key)?.poller.status
      if (local) return local
      const saved = checkpointOf(key)?.status
      if (!c.enabled) return { ...(saved ?? {}), state: 'stopped' } as ConnectionStatus
      return saved ?? { state: 'pending' }
    }
    const show = (c: Connection) => ({ ...showConnection(c), status: statusOf(c) })
    const bad = (reply: FastifyReply, message: string) => reply.code(400).send({ error: 'VALIDATION_FAILED', message })
    const body = { body: z.unknown().describe('A connection: {"name","provider","settings":{…},"enabled","poll_interval_ms","lookback_ms","start_at"}; see the README per provider.') }
    const parse = (input: unknown, previous: Connection | undefined) => {
      const r = connectionInput.safeParse(input)
      if (!r.success) return { ok: false as const, message: r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') }
      const settings = parseSettings(r.data.provider, withKeptSecrets(r.data.provider, r.data.settings, previous))
      return settings.ok ? { ok: true as const, input: r.data, settings: settings.settings } : settings
    }

    api.get('/v1/connections', { schema: { tags, summary: "The tenant's connections and their status (credentials never shown)", querystring: tenantQuery } }, async (req) => {
      const tenant = tenantOf(req)
      return { connections: connections.list(tenant).map(show), unreadable: connections.broken(tenant) }
    })

    api.post('/v1/connections', { schema: { tags, summary: 'Create a connection (started unless enabled is false)', querystring: tenantQuery, ...body } }, async (req, reply) => {
      const tenant = tenantOf(req)
      const p = parse(req.body, undefined)
      if (!p.ok) return bad(reply, p.message)
      return inTurn(tenant, async () => {
        if (connections.byName(tenant, p.input.name)) return reply.code(409).send({ error: 'CONFLICT', message: `a connection named ${p.input.name} exists` })
        const c = await connections.create(tenant, p.input, p.settings, new Date(Date.now() - config.poll.startLookbackMs).toISOString())
        audit(req, 'create', c)
        return reply.code(201).send({ connection: show(c) })
      })
    })

    api.get('/v1/connections/:id', { schema: { tags, summary: 'One connection and its status', params: idParam, querystring: tenantQuery } }, async (req, reply) => {
      const tenant = tenantOf(req)
      const c = found(tenant, req.params.id, reply)
      return c === undefined ? reply : { connection: show(c) }
    })

    api.put(
      '/v1/connections/:id',
      { schema: { tags, summary: 'Replace a connection; credentials left out keep their stored values; it restarts with the new settings', params: idParam, querystring: tenantQuery, ...body } },
      async (req, reply) => {
        const tenant = tenantOf(req)
        return inTurn(tenant, async () => {
          const previous = found(tenant, req.params.id, reply)
          if (previous === undefined) return reply
          const p = parse(req.body, previous)
          if (!p.ok) return bad(reply, p.message)
          const other = connections.byName(tenant, p.input.name)
          if (other && other.id !== previous.id) return reply.code(409).send({ error: 'CONFLICT', message: `a connection named ${p.input.name} exists` })
          const c = await connections.update({
            ...previous,
            name: p.input.name,
            provider: p.input.provider,
            settings: p.settings,
            enabled: p.input.enabled,
            poll_interval_ms: p.input.poll_interval_ms ?? null,
            lookback_ms: p.input.lookback_ms ?? null,
            start_at: p.input.start_at ?? previous.start_at,
          })
          audit(req, 'update', c)
          return { connection: show(c) }
        })
      },
    )

    api.delete('/v1/connections/:id', { schema: { tags, summary: 'Delete a connection (it stops; its checkpoint goes with it)', params: idParam, querystring: tenantQuery } }, async (req, reply) => {
      const tenant = tenantOf(req)
      return inTurn(tenant, async () => {
        const c = found(tenant, req.params.id, reply)
        if (c === undefined) return reply
        await connections.delete(tenant, req.params.id)
        await checkpoints.delete([connectionKey(tenant, req.params.id)])
        audit(req, 'delete', c)
        return reply.code(204).send()
      })
    })

    for (const [action, enabled] of [['start', true], ['stop', false]] as const) {
      api.post(`/v1/connections/:id/${action}`, { schema: { tags, summary: `${action === 'start' ? 'Start' : 'Stop'} polling a connection`, params: idParam, querystring: tenantQuery } }, async (req, reply) => {
        const tenant = tenantOf(req)
        return inTurn(tenant, async () => {
          const c = found(tenant, req.params.id, reply)
          if (c === undefined) return reply
          if (c.enabled === enabled) return { connection: show(c) }
          const changed = await connections.update({ ...c, enabled })
          audit(req, action, changed)
          return { connection: show(changed) }
        })
      })
    }

    api.post(
      '/v1/connections/:id/test',
      { schema: { tags, summary: "A dry run: the smallest provider call that proves the credentials and the selection, with the provider's error", params: idParam, querystring: tenantQuery } },
      async (req, reply) => {
        const tenant = tenantOf(req)
        const c = found(tenant, req.params.id, reply)
        if (c === undefined) return reply
        const client = PROVIDERS[c.provider].connect(c.settings)
        const started = performance.now()
        try {
          await withTimeout(config.poll.callTimeoutMs, new AbortController().signal, (signal) => client.test(signal))
          return { ok: true, duration_ms: Math.round(performance.now() - started) }
        } catch (err) {
          const e = err instanceof ProviderError ? err : new ProviderError('unavailable', 'ERROR', errorMessage(err))
          return { ok: false, error: { kind: e.kind, code: e.code, message: e.message }, duration_ms: Math.round(performance.now() - started) }
        } finally {
          await client.close().catch(() => undefined)
        }
      },
    )

    api.get('/v1/connections/:id/status', { schema: { tags, summary: 'State, last poll, lag, records pulled, last error', params: idParam, querystring: tenantQuery } }, async (req, reply) => {
      const tenant = tenantOf(req)
      const c = found(tenant, req.params.id, reply)
      return c === undefined ? reply : { id: c.id, name: c.name, provider: c.provider, enabled: c.enabled, status: statusOf(c) }
    })
  })

  return {
    app,
    listen: { host: config.host, port: config.port },
    consumers: [{ stage: stage as Stage<unknown, unknown>, groupId: config.groupId, topics: [config.topicLeases], sessionTimeoutMs: config.sessionTimeoutMs }],
    async start() {
      const admin = deps.kafka.admin()
      await admin.connect()
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [config.topicLeases] })
        leasePartitions = meta.topics[0]?.partitions.length || config.leasePartitions
      } finally {
        await admin.disconnect()
      }
      await checkpoints.start()
      await checkpoints.caughtUp(30_000)
      await connections.start()
    },
    async close() {
      closing = true
      await reconcile()
      await Promise.all([connections.close(), checkpoints.close()])
    },
  } satisfies ServiceInstance & Record<string, unknown>
}

export type ConnectorsService = ReturnType<typeof createService>
