// Alerter: logs.enriched → alerts. Source (a consumer group on logs.enriched) → transform (one
// AlertEvaluator per input partition: windows in event time, rules, alert lifecycle) → sinks (the
// compacted `alerts` topic keyed by alert id, then the notifiers).
//
// Durability: every few seconds each partition's evaluator is checkpointed to the state changelog
// (state-store.ts) together with the input offset it covers, and only then is that offset
// committed. A restarted or newly assigned instance restores the checkpoint and continues from its
// offset; records replayed after a crash reproduce the same alert ids and versions, which the
// compacted topic, ClickHouse (ReplacingMergeTree on version) and the notifiers' delivered-version
// bookkeeping absorb. Alerts reach the topic before the state that produced them is checkpointed,
// so a restart never loses a firing alert. All state changes run one at a time on a serial queue.
import type { Logger } from 'pino'
import type { Consumer, EachBatchPayload } from 'kafkajs'
import { z } from 'zod'
import type { Alert, EnrichedLog } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import type { BatchingProducer, DeadLetter, DeadLetterQueue, Kafka } from '@sluice/kafka'
import type { AvroCodec } from '@sluice/registry'
import type { HealthCheck, Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, createHttpApp, gauge, histogram, runHealthChecks, stageMetrics } from '@sluice/observability'
import type { Config } from './config.js'
import { AlertEvaluator, toAlertInput } from './evaluator.js'
import type { Transition } from './lifecycle.js'
import { Notifier, alertToJson, parseChannels } from './notify.js'
import { StateStore, encodeCheckpoint } from './state-store.js'

export interface AlerterDeps {
  logger: Logger
  registry: Registry
  kafka: Kafka
  producer: BatchingProducer
  enrichedCodec: AvroCodec<EnrichedLog>
  alertCodec: AvroCodec<Alert>
  dlq: DeadLetterQueue
  checks: Record<string, HealthCheck>
}

interface PartitionState {
  partition: number
  evaluator: AlertEvaluator
  /** Next input offset to apply: records below it are already in the state. */
  nextOffset: bigint
  dirty: boolean
  late: number
  windows: number
}

const TRANSITION_LABEL = { firing: 'fired', acknowledged: 'acknowledged', resolved: 'resolved' } as const
const ackBody = z.object({ by: z.string().min(1).max(200).default('api') }).default({ by: 'api' })
const listQuery = z.object({ status: z.enum(['firing', 'acknowledged', 'resolved', 'open']).default('open') })

export function createService(config: Config, deps: AlerterDeps) {
  const log = deps.logger.child({ service: 'alerter' })
  const r = deps.registry
  const metrics = {
    stage: stageMetrics(r, 'alerter'),
    windows: counter(r, 'sluice_alerter_windows_evaluated_total', 'Closed windows evaluated against the windowed rules.'),
    alerts: counter(r, 'sluice_alerter_alerts_total', 'Alert state changes produced, by rule kind and transition (fired, updated, acknowledged, resolved).', ['rule_kind', 'transition']),
    late: counter(r, 'sluice_alerter_late_records_total', 'Records behind the watermark by more than the allowed lateness, left out of their window.'),
    state: gauge(r, 'sluice_alerter_state_entries', 'Window buckets, known patterns, absence keys and alerts held in memory.'),
    open: gauge(r, 'sluice_alerter_open_alerts', 'Alerts firing or acknowledged on this instance.'),
    checkpointSeconds: histogram(r, 'sluice_alerter_checkpoint_seconds', 'Time to write the state checkpoints and commit their offsets.', LATENCY_BUCKETS_SECONDS),
    checkpointBytes: counter(r, 'sluice_alerter_checkpoint_bytes_total', 'Compressed checkpoint bytes written to the state changelog.'),
    lag: gauge(r, 'sluice_consumer_lag_records', 'Records between the high watermark and the last fetched offset.', ['group', 'topic', 'partition']),
  }
  const notifier = new Notifier({ channels: parseChannels(config.notify), retries: config.notify.retries, initialBackoffMs: config.notify.initialBackoffMs, maxBackoffMs: config.notify.maxBackoffMs, timeoutMs: config.notify.timeoutMs, registry: r, logger: log })
  const store = new StateStore({ kafka: deps.kafka, producer: deps.producer, topic: config.topicState, groupId: config.groupId, logger: log })
  const parts = new Map<number, PartitionState>()
  const deliveries = new Map<string, Promise<void>>()
  let serial: Promise<unknown> = Promise.resolve()
  let consumer: Consumer | null = null
  let running = false
  let closing = false
  const timers: NodeJS.Timeout[] = []

  /** Runs `fn` after everything queued before it; state is only touched from here. */
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = serial.then(fn, fn)
    serial = next.catch(() => undefined)
    return next
  }

  const stateKey = (partition: number) => StateStore.key(config.groupId, config.topicEnriched, partition)

  const openPartition = async (partition: number): Promise<PartitionState> => {
    await store.caughtUp(30_000)
    const evaluator = new AlertEvaluator(config.rules, { allowedLatenessMs: config.allowedLatenessMs })
    const checkpoint = store.get(stateKey(partition))
    if (checkpoint) evaluator.restore(checkpoint.state, Date.now())
    const part: PartitionState = { partition, evaluator, nextOffset: checkpoint?.nextOffset ?? -1n, dirty: false, late: evaluator.lateRecords, windows: evaluator.windowsEvaluated }
    parts.set(partition, part)
    const undelivered = evaluator.book.undelivered()
    log.info({ partition, restored: checkpoint !== undefined, nextOffset: String(checkpoint?.nextOffset ?? 'committed'), open: evaluator.book.open().length, undelivered: undelivered.length }, 'partition state ready')
    for (const alert of undelivered) deliver(alert)
    return part
  }

  /** Status changes go to the notifiers, one alert id at a time so a resolve never overtakes its fire. */
  const deliver = (alert: Alert): void => {
    const previous = deliveries.get(alert.id) ?? Promise.resolve()
    const next = previous.then(async () => {
      const results = await notifier.notify(alert)
      if (closing && results.some((x) => !x.delivered)) return // not marked: re-sent after the restart
      for (const p of parts.values()) {
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

  /** Produces alert states (acknowledged by Kafka), then hands status changes to the notifiers. */
  const emit = async (transitions: Transition[]): Promise<void> => {
    if (transitions.length === 0) return
    await deps.producer.send(config.topicAlerts, transitions.map((t) => ({ key: t.alert.id, value: deps.alertCodec.encode(t.alert) })))
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
    metrics.windows.inc(ev.windowsEvaluated - part.windows)
    part.late = ev.lateRecords
    part.windows = ev.windowsEvaluated
  }

  const onBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> => {
    const part = parts.get(batch.partition) ?? (await openPartition(batch.partition))
    const out: Transition[] = []
    const dead: DeadLetter[] = []
    let applied = 0
    let last: string | undefined
    let retry: Error | undefined
    try {
      for (const [i, message] of batch.messages.entries()) {
        // Checked every 64 records: per record, these calls cost more than some rules.
        if ((i & 63) === 0 && (!isRunning() || isStale())) break
        const offset = BigInt(message.offset)
        if (offset >= part.nextOffset) {
          try {
            const event = await deps.enrichedCodec.decode(message.value)
            out.push(...part.evaluator.process(toAlertInput(event), Date.now()))
          } catch (err) {
            // Registry unreachable: stop here, make what was done durable, then fail the batch so
            // kafkajs fetches the rest again (records already applied are skipped by offset).
            if (isSluiceError(err) && err.canRetry) {
              retry = err
              break
            }
            const code = isSluiceError(err) ? err.code : 'DECODE_FAILED'
            metrics.stage.errors.inc({ code })
            dead.push({ topic: batch.topic, partition: batch.partition, message, code, reason: errorMessage(err) })
          }
          part.nextOffset = offset + 1n
          part.dirty = true
          applied++
        }
        last = message.offset
      }
    } finally {
      if (last !== undefined) resolveOffset(last)
    }
    metrics.stage.received.inc(applied)
    out.push(...part.evaluator.advance())
    if (dead.length > 0) {
      await deps.dlq.send(dead)
      metrics.stage.dropped.inc({ reason: 'dlq' }, dead.length)
      log.warn({ partition: batch.partition, count: dead.length, first: dead[0]?.reason }, 'records sent to the DLQ')
    }
    await emit(out)
    metrics.stage.sent.inc(out.length)
    observe(part)
    metrics.lag.set({ group: config.groupId, topic: batch.topic, partition: String(batch.partition) }, Number(batch.offsetLag()))
    if (retry) throw retry
    await heartbeat()
  }

  /**
   * Writes the changed partitions' checkpoints, then commits the offsets they cover. The state is
   * captured (serialised) between batches; compression, the write and the commit run while
   * records keep flowing, one checkpoint at a time so an older one never lands after a newer.
   */
  let checkpoints: Promise<void> = Promise.resolve()
  const writeCheckpoint = async (): Promise<void> => {
    const captured = await exclusive(async () => {
      const dirty = [...parts.values()].filter((p) => p.dirty && p.nextOffset >= 0n)
      for (const p of dirty) p.dirty = false
      return dirty.map((p) => ({ part: p, offset: p.nextOffset, json: encodeCheckpoint({ nextOffset: p.nextOffset, state: p.evaluator.snapshot() }) }))
    })
    if (captured.length === 0) return
    const end = metrics.checkpointSeconds.startTimer()
    try {
      metrics.checkpointBytes.inc(await store.put(captured.map((c) => ({ key: stateKey(c.part.partition), json: c.json }))))
    } catch (err) {
      for (const c of captured) c.part.dirty = true
      log.warn({ err }, 'checkpoint failed; offsets stay uncommitted')
      return
    }
    try {
      await consumer?.commitOffsets(captured.map((c) => ({ topic: config.topicEnriched, partition: c.part.partition, offset: c.offset.toString() })))
    } catch (err) {
      // The checkpoint carries its own offset; a restore continues from there regardless.
      log.warn({ err }, 'offset commit after checkpoint failed')
    }
    let size = 0
    let open = 0
    for (const p of parts.values()) {
      size += p.evaluator.stateSize
      open += p.evaluator.book.open().length
    }
    metrics.state.set(size)
    metrics.open.set(open)
    end()
  }
  const checkpoint = (): Promise<void> => {
    checkpoints = checkpoints.then(writeCheckpoint, writeCheckpoint)
    return checkpoints
  }

  const checkAbsence = (): Promise<void> =>
    exclusive(async () => {
      const now = Date.now()
      for (const p of parts.values()) {
        const out = p.evaluator.checkAbsence(now)
        if (out.length > 0) {
          p.dirty = true
          await emit(out)
        }
      }
    })

  const findAlert = (id: string): { part: PartitionState; alert: Alert } | undefined => {
    for (const part of parts.values()) {
      const alert = part.evaluator.book.get(id)
      if (alert) return { part, alert }
    }
    return undefined
  }

  const checks: Record<string, HealthCheck> = {
    ...deps.checks,
    consumer: async () => {
      if (!running) throw new Error('consumer not running')
    },
  }
  const app = createHttpApp({ logger: log, registry: r, checks })

  app.get('/v1/alert-rules', async () => ({ rules: config.rules }))

  app.get('/v1/alerts', async (req, reply) => {
    const q = listQuery.safeParse(req.query)
    if (!q.success) return reply.code(400).send({ error: 'BAD_PARAMETER', message: `status: ${q.error.issues[0]?.message ?? 'invalid'}` })
    const status = q.data.status
    const alerts: Alert[] = []
    for (const p of parts.values()) {
      const book = p.evaluator.book
      for (const a of status === 'open' ? book.open() : book.all()) if (status === 'open' || a.status === status) alerts.push(a)
    }
    alerts.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1))
    return { alerts: alerts.map(alertToJson) }
  })

  app.post<{ Params: { id: string } }>('/v1/alerts/:id/ack', async (req, reply) => {
    const body = ackBody.safeParse(req.body ?? undefined)
    if (!body.success) return reply.code(400).send({ error: 'BAD_REQUEST', message: `by: ${body.error.issues[0]?.message ?? 'invalid'}` })
    const result = await exclusive(async () => {
      const found = findAlert(req.params.id)
      if (!found) return { code: 404, payload: { error: 'NOT_FOUND', message: `alert ${req.params.id} is not known to this alerter instance` } }
      const t = found.part.evaluator.acknowledge(req.params.id, body.data.by, Date.now())
      if (!t) return { code: 409, payload: { error: 'CONFLICT', message: `alert ${req.params.id} is ${found.alert.status}; only a firing alert can be acknowledged` } }
      found.part.dirty = true
      await emit([t])
      return { code: 200, payload: { alert: alertToJson(t.alert) } }
    })
    if (result.code === 200) await checkpoint()
    return reply.code(result.code).send(result.payload)
  })

  app.get<{ Params: { id: string } }>('/v1/alerts/:id/notifications', async (req) => ({ attempts: notifier.attempts(req.params.id) }))
  app.get('/v1/notifications', async () => ({ attempts: notifier.attempts() }))

  return {
    name: 'alerter' as const,
    app,
    config,
    /** The evaluators by input partition (tests and the benchmark read their state). */
    partitions: parts,
    checkpoint,

    async start(): Promise<string> {
      await store.start()
      const c = deps.kafka.consumer({ groupId: config.groupId, sessionTimeout: config.sessionTimeoutMs, heartbeatInterval: Math.min(3000, Math.floor(config.sessionTimeoutMs / 3)), maxWaitTimeInMs: 100, maxBytesPerPartition: 4 * 1024 * 1024, retry: { retries: 10 } })
      consumer = c
      c.on(c.events.GROUP_JOIN, (e) => {
        const assigned = new Set(e.payload.memberAssignment[config.topicEnriched] ?? [])
        void exclusive(async () => {
          for (const p of [...parts.keys()]) if (!assigned.has(p)) parts.delete(p)
          // Open every assigned partition now: absence must be checked even where no record arrives.
          for (const p of assigned) if (!parts.has(p)) await openPartition(p)
        }).catch((err: unknown) => log.error({ err }, 'restoring partition state failed'))
      })
      await c.connect()
      await c.subscribe({ topic: config.topicEnriched, fromBeginning: true })
      await c.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (payload) => exclusive(() => onBatch(payload)) })
      running = true
      timers.push(setInterval(() => void checkpoint(), config.checkpointIntervalMs))
      timers.push(setInterval(() => void checkAbsence().catch((err: unknown) => log.warn({ err }, 'absence check failed')), config.absenceCheckIntervalMs))
      return app.listen({ host: config.host, port: config.port })
    },

    /** Graceful stop: no new records, deliver what is in flight (bounded), checkpoint, commit, leave the group. */
    async close(): Promise<void> {
      if (closing) return
      closing = true
      for (const t of timers) clearInterval(t)
      await app.close()
      // Paused, not stopped: the group stays joined so the final checkpoint's offsets can be committed.
      consumer?.pause([{ topic: config.topicEnriched }])
      await exclusive(async () => undefined)
      await Promise.race([Promise.allSettled([...deliveries.values()]), new Promise((res) => setTimeout(res, 5000))])
      notifier.close()
      await checkpoint()
      await consumer?.disconnect()
      running = false
      await store.close()
    },

    health: () => runHealthChecks(checks),
  }
}

export type AlerterService = ReturnType<typeof createService>
