// Alerter: logs.enriched → alerts. A stateful stage on the consumer runner: transform (one
// AlertEvaluator per input partition: windows in event time, rules, alert lifecycle) → sink (the
// compacted `alerts` topic keyed by alert id, then the notifiers).
//
// Durability: every ALERTER_CHECKPOINT_INTERVAL_MS the runner asks for a checkpoint once every alert
// transformed so far is on the alerts topic; each changed partition's evaluator is written to the
// state changelog (state-store.ts) with the input offset it covers, and only then does the runner
// commit that offset. A restarted or newly assigned instance restores the checkpoint and resumes
// from its offset (the runner skips what the state already holds); records replayed after a crash
// reproduce the same alert ids and versions, which the compacted topic, ClickHouse
// (ReplacingMergeTree on version) and the notifiers' delivered-version bookkeeping absorb. All
// state changes — records, acknowledgements, manual resolves, absence checks, checkpoints — run
// one at a time.
//
// Notifications: every status change is routed to the matching channels (notify.ts; channels from
// the environment and from the channels API, kept in a compacted topic by channel-store.ts) and
// recorded in the in-app inbox (inbox.ts), another compacted topic that ws-fanout pushes live.
//
// Tenancy: every route acts as the tenant of the request's key (SLUICE_AUTH=true), or the one it
// names (x-sluice-tenant / X-Scope-OrgID header, or ?tenant=) when authentication is off. An alert
// of another tenant is answered as if it did not exist (404), here at the door that received the
// request, before anything is forwarded to the owning instance. Alert routes that name no tenant
// with authentication off (or with a key of every tenant) see every tenant's alerts, as before keys.
import type { FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import type { Alert } from '@sluice/core'
import { CompactedStore } from '@sluice/kafka'
import type { Batch, RecordDecoder, Stage, StageState, TopicPartitionOffset } from '@sluice/kafka'
import { LATENCY_BUCKETS_SECONDS, counter, createHttpApp, gauge, histogram } from '@sluice/observability'
import type { ZodTypeProvider } from '@sluice/observability'
import type { DepsFor, ServiceInstance } from '@sluice/service'
import type { Config } from './config.js'
import { ALERT_FIELDS, AlertEvaluator, RECORD_FIELDS, TEXT_FIELDS, projectionSchema, readsEveryText, toAlertInput, withDeferredText } from './evaluator.js'
import type { AlertFields, RecordFields, TextFields } from './evaluator.js'
import type { HistoryEntry, Transition } from './lifecycle.js'
import { ChannelStore } from './channel-store.js'
import { CommandBus } from './commands.js'
import type { Command, CommandResult } from './commands.js'
import { AlertExplainer } from './explain.js'
import { Inbox, inboxItem } from './inbox.js'
import { registerNotificationRoutes } from './notifications-api.js'
import { Notifier, alertToJson, parseChannels } from './notify.js'
import { SecretBox, TENANT_PATTERN, loadSecretsKey } from '@sluice/core'
import { StateStore, encodeCheckpoint } from './state-store.js'
import type { CheckpointStore } from './state-store.js'

export type AlerterDeps = DepsFor<{ kafka: true; registry: true }>

interface PartitionState {
  partition: number
  evaluator: AlertEvaluator
  /** Next input offset to apply: records below it are in the state. */
  nextOffset: bigint
  dirty: boolean
  late: number
  future: number
  windows: number
}

const TRANSITION_LABEL = { firing: 'fired', acknowledged: 'acknowledged', resolved: 'resolved' } as const
// No body at all (fastify hands null) acknowledges as `api`.
const ackBody = z.object({ by: z.string().min(1).max(200).default('api') }).nullish().transform((b) => b ?? { by: 'api' })
const resolveBody = z
  .object({ by: z.string().min(1).max(200).default('api'), reason: z.string().min(1).max(2000).optional() })
  .nullish()
  .transform((b) => b ?? { by: 'api', reason: undefined })
const tenantQuery = z.object({ tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional() })
const listQuery = tenantQuery.extend({ status: z.enum(['firing', 'acknowledged', 'resolved', 'open']).default('open') })
/** How long a shutdown waits for notifications in flight before the last checkpoint. */
const DELIVERY_GRACE_MS = 5000

export interface AlerterParts {
  /** Where checkpoints go; default: the compacted state topic. */
  store?: CheckpointStore
}

export function createService(config: Config, deps: AlerterDeps, parts: AlerterParts = {}) {
  const log = deps.logger.child({ service: 'alerter' })
  const r = deps.registry
  const now = deps.clock
  const metrics = {
    windows: counter(r, 'sluice_alerter_windows_evaluated_total', 'Closed windows evaluated against the windowed rules.'),
    alerts: counter(r, 'sluice_alerter_alerts_total', 'Alert state changes produced, by rule kind and transition (fired, updated, acknowledged, resolved).', ['rule_kind', 'transition']),
    late: counter(r, 'sluice_alerter_late_records_total', 'Records behind the watermark by more than the allowed lateness, left out of their window.'),
    future: counter(r, 'sluice_alerter_future_records_total', 'Records dated more than ALERTER_MAX_FUTURE_MS ahead of the alerter clock, counted at the alerter clock.'),
    state: gauge(r, 'sluice_alerter_state_entries', 'Window buckets, known patterns, absence keys and alerts held in memory.'),
    open: gauge(r, 'sluice_alerter_open_alerts', 'Alerts firing or acknowledged on this instance.'),
    checkpointSeconds: histogram(r, 'sluice_alerter_checkpoint_seconds', 'Time to write the state checkpoints.', LATENCY_BUCKETS_SECONDS),
    checkpointBytes: counter(r, 'sluice_alerter_checkpoint_bytes_total', 'Compressed checkpoint bytes written to the state changelog.'),
    // What a restart would resume with: alerts open and notifications to send again.
    checkpointOpen: gauge(r, 'sluice_alerter_checkpoint_open_alerts', 'Alerts firing or acknowledged as of the last checkpoint written.'),
    checkpointUndelivered: gauge(r, 'sluice_alerter_checkpoint_undelivered_notifications', 'Alert changes not yet notified as of the last checkpoint written (sent again after a restart).'),
  }
  const notifier = new Notifier({
    channels: parseChannels(config.notify),
    retries: config.notify.retries,
    initialBackoffMs: config.notify.initialBackoffMs,
    maxBackoffMs: config.notify.maxBackoffMs,
    timeoutMs: config.notify.timeoutMs,
    defaultMaxPerMinute: config.notify.maxPerMinute,
    emailFrom: config.notify.emailFrom,
    registry: r,
    logger: log,
  })
  const secrets = loadSecretsKey({ key: config.secretsKey, file: config.secretsKeyFile })
  if (secrets.source === 'new file') log.warn({ file: config.secretsKeyFile }, 'made a new key for channel secrets; every alerter instance needs the same key (ALERTER_SECRETS_KEY)')
  const channels = new ChannelStore({
    kafka: deps.kafka,
    producer: deps.producer,
    topic: config.topicChannels,
    groupId: config.groupId,
    box: new SecretBox(secrets.key),
    listener: { set: (tenant, spec) => notifier.set({ tenant, source: 'api', spec }), remove: (tenant, name) => notifier.remove(tenant, name) },
    logger: log,
  })
  const explainer = config.explain === undefined ? undefined : new AlertExplainer({ ...config.explain, registry: r, logger: log })
  const inbox = new Inbox({ kafka: deps.kafka, producer: deps.producer, topic: config.topicNotifications, groupId: config.groupId, maxItems: config.inboxMaxItems, logger: log })
  const store = parts.store ?? new StateStore({ kafka: deps.kafka, producer: deps.producer, topic: config.topicState, groupId: config.groupId, logger: log })
  const partitions = new Map<number, PartitionState>()
  const deliveries = new Map<string, Promise<void>>()
  let serial: Promise<unknown> = Promise.resolve()
  let absenceTimer: NodeJS.Timeout | undefined
  let closing = false

  /** Runs `fn` after everything queued before it; state is only touched from here. */
  const exclusive = <T>(fn: () => Promise<T> | T): Promise<T> => {
    const next = serial.then(fn, fn)
    serial = next.catch(() => undefined)
    return next
  }

  const stateKey = (partition: number) => StateStore.key(config.groupId, config.topicEnriched, partition)

  /** Status changes go to the notifiers, one alert id at a time so a resolve never overtakes its fire. */
  const deliver = (alert: Alert): void => {
    const previous = deliveries.get(alert.id) ?? Promise.resolve()
    const next = previous.then(async () => {
      // A firing alert first gets its explanation (bounded), so the notification carries it.
      if (explainer !== undefined && alert.status === 'firing' && alert.explanation === null) alert = await explained(alert)
      // The inbox shows the change at once, then which channels took it.
      const routes = notifier.route(alert)
      inbox.record(inboxItem(alert, routes.map((x) => ({ name: x.channel, result: x.muted ? 'muted' : 'pending' }))), { rewrite: false })
      const results = await notifier.notify(alert)
      const outcome = results.map((x) => ({ name: x.channel, result: x.muted ? ('muted' as const) : x.delivered ? ('delivered' as const) : ('failed' as const) }))
      inbox.record(inboxItem(alert, outcome), { rewrite: true })
      if (closing && results.some((x) => !x.delivered)) return // not marked: re-sent after the restart
      for (const p of partitions.values()) {
        if (p.evaluator.book.get(alert.id) === undefined) continue
        p.evaluator.book.markNotified(alert.id, alert.version)
        p.dirty = true
      }
    })
    deliveries.set(alert.id, next)
    void next.finally(() => {
      if (deliveries.get(alert.id) === next) deliveries.delete(alert.id)
    })
  }

  /** The alert with its explanation attached (a new version on the alerts topic), or as it was. */
  const explained = async (alert: Alert): Promise<Alert> => {
    const e = await explainer!.explain(alert)
    if (e === null) return alert
    return exclusive(async () => {
      for (const p of partitions.values()) {
        const t = p.evaluator.book.explain(alert.id, alert.started_at, e.text, e.runbook, now())
        if (t === null) continue
        p.dirty = true
        await emit([t])
        return t.alert
      }
      return alert
    })
  }

  /** Produces alert states (acknowledged by Kafka), then hands status changes to the notifiers. */
  const emit = async (transitions: Transition[]): Promise<void> => {
    if (transitions.length === 0) return
    await deps.producer.send(config.topicAlerts, transitions.map((t) => ({ key: t.alert.id, value: deps.codecs.alert.encode(t.alert) })))
    for (const t of transitions) {
      metrics.alerts.inc({ rule_kind: t.alert.rule_kind, transition: t.notify ? TRANSITION_LABEL[t.alert.status] : 'updated' })
      if (t.notify) {
        log.info({ alert: t.alert.id, rule: t.alert.rule_id, tenant: t.alert.tenant, svc: t.alert.service, status: t.alert.status, version: t.alert.version }, t.alert.summary)
        deliver(t.alert)
      }
    }
  }

  const observe = (part: PartitionState): void => {
    const ev = part.evaluator
    metrics.late.inc(ev.lateRecords - part.late)
    metrics.future.inc(ev.futureRecords - part.future)
    metrics.windows.inc(ev.windowsEvaluated - part.windows)
    part.late = ev.lateRecords
    part.future = ev.futureRecords
    part.windows = ev.windowsEvaluated
  }

  const open = (partition: number): Promise<string | undefined> =>
    exclusive(async () => {
      await store.caughtUp(30_000)
      const evaluator = new AlertEvaluator(config.rules, { allowedLatenessMs: config.allowedLatenessMs, maxFutureMs: config.maxFutureMs })
      const checkpoint = store.get(stateKey(partition))
      if (checkpoint) evaluator.restore(checkpoint.state, now())
      const part: PartitionState = { partition, evaluator, nextOffset: checkpoint?.nextOffset ?? -1n, dirty: false, late: evaluator.lateRecords, future: evaluator.futureRecords, windows: evaluator.windowsEvaluated }
      partitions.set(partition, part)
      const undelivered = evaluator.book.undelivered()
      log.info({ partition, restored: checkpoint !== undefined, nextOffset: String(checkpoint?.nextOffset ?? 'committed'), open: evaluator.book.open().length, undelivered: undelivered.length }, 'partition state ready')
      for (const alert of undelivered) deliver(alert)
      return checkpoint?.nextOffset.toString()
    })

  const state: StageState = {
    checkpointIntervalMs: config.checkpointIntervalMs,
    open: (_topic, partition) => open(partition),
    close: (_topic, partition) => void partitions.delete(partition),
    // Serialised between records and acknowledgements; compression and the write run after it,
    // one checkpoint at a time (the runner orders them), while records keep flowing.
    capture: (final) =>
      exclusive(async () => {
        if (final) {
          clearInterval(absenceTimer)
          notifier.flushGroups()
          await Promise.race([Promise.allSettled([...deliveries.values()]), new Promise((res) => setTimeout(res, DELIVERY_GRACE_MS))])
          closing = true
          notifier.close()
        }
        const dirty = [...partitions.values()].filter((p) => p.dirty && p.nextOffset >= 0n)
        let size = 0
        let openAlerts = 0
        for (const p of partitions.values()) {
          size += p.evaluator.stateSize
          openAlerts += p.evaluator.book.open().length
        }
        metrics.state.set(size)
        metrics.open.set(openAlerts)
        if (dirty.length === 0) return undefined
        // Partitions not written are unchanged since their last checkpoint: the totals are the checkpoint's.
        let undelivered = 0
        for (const p of partitions.values()) undelivered += p.evaluator.book.undelivered().length
        for (const p of dirty) p.dirty = false
        const captured = dirty.map((p) => ({ part: p, offset: p.nextOffset, json: encodeCheckpoint({ nextOffset: p.nextOffset, state: p.evaluator.snapshot() }) }))
        return async (): Promise<TopicPartitionOffset[]> => {
          const end = metrics.checkpointSeconds.startTimer()
          try {
            metrics.checkpointBytes.inc(await store.put(captured.map((c) => ({ key: stateKey(c.part.partition), json: c.json }))))
            metrics.checkpointOpen.set(openAlerts)
            metrics.checkpointUndelivered.set(undelivered)
          } catch (err) {
            for (const c of captured) c.part.dirty = true
            throw err
          } finally {
            end()
          }
          return captured.map((c) => ({ topic: config.topicEnriched, partition: c.part.partition, offset: c.offset.toString() }))
        }
      }),
  }

  // Only the fields the rules read are decoded (an Avro projection: the rest is skipped). A record's
  // text (message, template, category) only when some rule reads it for every record; otherwise
  // from its bytes, by a projection of the text alone, for the few records an alert is written of.
  const enriched = deps.codecs.enriched
  const everyText = readsEveryText(config.rules)
  const decoder = enriched.projection<AlertFields>(projectionSchema(enriched.schema, everyText ? ALERT_FIELDS : RECORD_FIELDS))
  const text = everyText ? undefined : enriched.projection<TextFields>(projectionSchema(enriched.schema, TEXT_FIELDS))
  const input = text
    ? (batch: Batch<AlertFields>, i: number) => withDeferredText(batch.values[i]!, batch.records[i]!.value, text)
    : (batch: Batch<AlertFields>, i: number) => toAlertInput(batch.values[i] as RecordFields & TextFields)

  const stage: Stage<AlertFields, Transition> = {
    name: 'alerter',
    // Alerts go out as soon as a fetch that caught a partition up is evaluated.
    flush: { maxRecords: 10_000, intervalMs: 100, whenCaughtUp: true },
    state,
    transform: (batch: Batch<AlertFields>) =>
      exclusive(async () => {
        if (text) await knowWriters(text, batch.records)
        const part = partitions.get(batch.partition)
        if (!part) throw new Error(`partition ${batch.partition} of ${batch.topic} is not open`)
        const out: Transition[] = []
        const at = now()
        // The next offset follows the records applied, even when one throws; worked out once,
        // from the last of them, rather than per record (a BigInt parse each).
        let applied = 0
        try {
          for (; applied < batch.values.length; applied++) for (const t of part.evaluator.process(input(batch, applied), at)) out.push(t)
        } finally {
          if (applied > 0) part.nextOffset = BigInt(batch.records[applied - 1]!.offset) + 1n
        }
        if (batch.records.length > 0) part.dirty = true
        for (const t of part.evaluator.advance()) out.push(t)
        observe(part)
        return { outputs: out }
      }),
    sink: (transitions) => emit(transitions),
  }

  const checkAbsence = (): Promise<void> =>
    exclusive(async () => {
      const at = now()
      for (const p of partitions.values()) {
        const out = p.evaluator.checkAbsence(at)
        if (out.length > 0) {
          p.dirty = true
          await emit(out)
        }
      }
    })

  /**
   * Applies a command to an alert this instance owns; undefined when it owns no such alert. An
   * alert of another tenant than `tenant` (undefined: any) is answered as unknown.
   */
  const apply = (id: string, cmd: Command, tenant: string | undefined): Promise<CommandResult | undefined> =>
    exclusive(async () => {
      const found = findAlert(id)
      if (!found) return undefined
      if (!visible(found.alert, tenant)) return { ...noAlert(id), hidden: true }
      const book = found.part.evaluator.book
      if (cmd.action === 'get') return { code: 200, payload: { alert: alertToJson(found.alert), history: historyJson(book.history(id) ?? []) } }
      const t = cmd.action === 'ack' ? book.acknowledge(id, cmd.by, now()) : book.resolveBy(id, cmd.by, cmd.reason, now())
      if (!t) {
        const only = cmd.action === 'ack' ? 'only a firing alert can be acknowledged' : 'it is resolved already'
        return { code: 409, payload: { error: 'CONFLICT', message: `alert ${id} is ${found.alert.status}; ${only}` } }
      }
      found.part.dirty = true
      await emit([t])
      return { code: 200, payload: { alert: alertToJson(t.alert), history: historyJson(book.history(id) ?? []) } }
    })

  const bus = new CommandBus({ kafka: deps.kafka, producer: deps.producer, topic: config.topicCommands, groupId: config.groupId, timeoutMs: config.commandTimeoutMs, apply, logger: log })
  // Every alert's latest state, read from the compacted alerts topic: which ids exist anywhere.
  const directory = new CompactedStore({ kafka: deps.kafka, producer: deps.producer, topic: config.topicAlerts, readerGroupPrefix: `${config.groupId}.directory`, logger: log })
  const stored = async (id: string): Promise<Alert | undefined> => {
    const bytes = directory.get(id)
    if (bytes === undefined) return undefined
    return deps.codecs.alert.decodeSync(bytes) ?? (await deps.codecs.alert.decode(bytes))
  }

  /**
   * A command on the owning instance, this one or another; 404 when no alert of `tenant` has the id.
   * The tenant is checked here, before forwarding (the owner checks again).
   */
  const command = async (id: string, cmd: Command, tenant: string | undefined): Promise<CommandResult> => {
    const local = await apply(id, cmd, tenant)
    if (local !== undefined) return local
    const known = await stored(id)
    if (known === undefined) return noAlert(id)
    if (!visible(known, tenant)) return { ...noAlert(id), hidden: true }
    const remote = await bus.request(id, cmd, tenant)
    if (remote !== undefined) return remote
    // No owner answered: a resolved alert may have left its owner's memory, or its partition is moving.
    if (cmd.action === 'get') return { code: 200, payload: { alert: alertToJson(known), history: null } }
    if (known.status === 'resolved') return { code: 409, payload: { error: 'CONFLICT', message: `alert ${id} is resolved` } }
    return { code: 503, payload: { error: 'UNAVAILABLE', message: `the alerter instance that owns alert ${id} did not answer within ${config.commandTimeoutMs} ms (its partition may be moving); try again` } }
  }

  const visible = (alert: Alert, tenant: string | undefined): boolean => tenant === undefined || alert.tenant === tenant
  const noAlert = (id: string): CommandResult => ({ code: 404, payload: { error: 'NOT_FOUND', message: `no alert ${id}` } })

  const findAlert = (id: string): { part: PartitionState; alert: Alert } | undefined => {
    for (const part of partitions.values()) {
      const alert = part.evaluator.book.get(id)
      if (alert) return { part, alert }
    }
    return undefined
  }

  const app = createHttpApp({
    name: 'alerter',
    description: 'Windowed alert rules over logs.enriched: the rules, the alerts this instance owns, acknowledgements and notification attempts.',
    logger: log,
    registry: r,
    checks: deps.checks,
    access: { security: deps.security, scope: 'alerts' },
  })
  void app.register(async (plain) => {
    const api = plain.withTypeProvider<ZodTypeProvider>()
    const tags = ['alerts']
    const alertId = z.object({ id: z.string().min(1).max(256) })

    type TenantRequest = Pick<FastifyRequest, 'headers' | 'access'> & { query: { tenant?: string | undefined } }
    /** The tenant a request acts as: its key's, or the one it names; undefined: every tenant. */
    const tenantOf = (req: TenantRequest): string | undefined =>
      req.access.tenant(requestedTenant(req, TENANT_HEADERS, req.query.tenant), undefined)

    /** Acknowledges or resolves at the door, and audits who did it (the key id, not the key). */
    const change = async (req: TenantRequest, id: string, cmd: Extract<Command, { action: 'ack' | 'resolve' }>): Promise<CommandResult> => {
      const tenant = tenantOf(req)
      const result = await command(id, cmd, tenant)
      const alert = (result.payload as { alert?: { tenant?: string } } | null)?.alert
      const message = (result.payload as { message?: string } | null)?.message
      req.access.audit({
        action: cmd.action === 'ack' ? 'alert.ack' : 'alert.resolve',
        outcome: result.code === 200 ? 'ok' : result.hidden === true ? 'refused' : 'failed',
        tenant: alert?.tenant ?? tenant ?? '',
        target: id,
        ...(result.code !== 200 && { reason: result.hidden === true ? 'alert of another tenant' : (message ?? `HTTP ${result.code}`) }),
        details: cmd.action === 'ack' ? { by: cmd.by } : { by: cmd.by, reason: cmd.reason },
      })
      return result
    }
    const answer = (reply: FastifyReply, r: CommandResult) => reply.code(r.code).send(r.payload)

    api.get('/v1/alert-rules', { schema: { tags, summary: 'The alert rules this instance evaluates' } }, async () => ({ rules: config.rules }))

    api.get('/v1/alerts', { schema: { tags, summary: "The tenant's alerts of the partitions this instance owns, newest update first", querystring: listQuery } }, async (req) => {
      const status = req.query.status
      const tenant = tenantOf(req)
      const alerts: Alert[] = []
      for (const p of partitions.values()) {
        const book = p.evaluator.book
        for (const a of status === 'open' ? book.open() : book.all()) if ((status === 'open' || a.status === status) && visible(a, tenant)) alerts.push(a)
      }
      alerts.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))
      return { alerts: alerts.map(alertToJson) }
    })

    api.get(
      '/v1/alerts/:id',
      { schema: { tags, summary: 'One alert with its history (who acknowledged or resolved it, and when); any instance answers', params: alertId, querystring: tenantQuery } },
      async (req, reply) => answer(reply, await command(req.params.id, { action: 'get' }, tenantOf(req))),
    )

    api.post(
      '/v1/alerts/:id/ack',
      { schema: { tags, summary: 'Acknowledge a firing alert (on any instance); audited', params: alertId, querystring: tenantQuery, body: ackBody } },
      async (req, reply) => answer(reply, await change(req, req.params.id, { action: 'ack', by: req.body.by })),
    )

    api.post(
      '/v1/alerts/:id/resolve',
      { schema: { tags, summary: 'Resolve an open alert by hand, with who and why (on any instance); notified like an automatic resolve; audited', params: alertId, querystring: tenantQuery, body: resolveBody } },
      async (req, reply) => answer(reply, await change(req, req.params.id, { action: 'resolve', by: req.body.by, reason: req.body.reason ?? null })),
    )

    api.get(
      '/v1/alerts/:id/notifications',
      { schema: { tags, summary: 'Delivery attempts for one alert made by this instance', params: alertId, querystring: tenantQuery } },
      async (req) => ({ attempts: notifier.attempts({ alertId: req.params.id, tenant: tenantOf(req) }) }),
    )
    registerNotificationRoutes(plain, { notifier, channels, inbox, defaultTenant: config.defaultTenant })
  })

  return {
    app,
    listen: { host: config.host, port: config.port },
    consumers: [{ stage, groupId: config.groupId, topics: [config.topicEnriched], decoders: { [config.topicEnriched]: decoder }, sessionTimeoutMs: config.sessionTimeoutMs }],
    /** The stage (tests drive it directly) and the evaluators by input partition (tests and the benchmark read their state). */
    stage,
    partitions,
    async start() {
      await Promise.all([store.start(), channels.start(), inbox.start(), directory.start(), bus.start()])
      absenceTimer = setInterval(() => void checkAbsence().catch((err: unknown) => log.warn({ err }, 'absence check failed')), config.absenceCheckIntervalMs)
    },
    async close() {
      clearInterval(absenceTimer)
      notifier.close()
      await Promise.all([store.close(), channels.close(), inbox.close(), directory.close(), bus.close()])
    },
  } satisfies ServiceInstance & Record<string, unknown>
}

export type AlerterService = ReturnType<typeof createService>

/** History entries with ISO times. */
function historyJson(history: HistoryEntry[]) {
  return history.map((h) => ({ ...h, at: new Date(h.at).toISOString() }))
}

/**
 * Has `decoder` know the writer schema of every record of a batch, so that it decodes them later
 * without waiting (records of one schema come in runs: one decode per run).
 */
async function knowWriters(decoder: RecordDecoder<TextFields>, records: Batch<AlertFields>['records']): Promise<void> {
  let last: number | undefined
  for (const r of records) {
    const value = r.value
    if (value === null || value.length < 5) continue
    const id = value.readInt32BE(1)
    if (id === last) continue
    last = id
    if (decoder.decodeSync(value) === undefined) await decoder.decode(value)
  }
}
