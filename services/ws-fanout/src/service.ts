// ws-fanout: logs.enriched and alerts → WebSocket clients, filtered server-side. Each instance
// reads from the latest offsets in a consumer group of its own (instances scale horizontally
// behind a load balancer); every record is serialised once and the same string goes to every
// client that wants it.
import { randomUUID } from 'node:crypto'
import websocket from '@fastify/websocket'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import type { Alert, EnrichedLog } from '@sluice/core'
import { formatNs } from '@sluice/core'
import type { AvroCodec } from '@sluice/registry'
import type { HealthCheck, Registry } from '@sluice/observability'
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS, counter, createHttpApp, gauge, histogram, runHealthChecks } from '@sluice/observability'
import { StreamClient, textFrame } from './client.js'
import type { Config } from './config.js'
import { verifyToken } from './auth.js'
import { buildPage } from './page.js'
import { parseClientMessage } from './protocol.js'

export interface FanoutDeps {
  logger: Logger
  registry: Registry
  kafka: Kafka
  enrichedCodec: AvroCodec<EnrichedLog>
  alertCodec: AvroCodec<Alert>
  checks: Record<string, HealthCheck>
}

const CLOSE_TRY_AGAIN_LATER = 1013
const CLOSE_UNAUTHORIZED = 4001
const CLOSE_IDLE = 4002
const PUMP_INTERVAL_MS = 50

/** Wire shape of a record: bigint nanoseconds become RFC 3339 strings. */
function toJson<T extends object>(record: T): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(record)) out[k] = typeof v === 'bigint' ? formatNs(v) : v
  return out
}

export function createService(config: Config, deps: FanoutDeps) {
  const log = deps.logger.child({ service: 'ws-fanout' })
  const r = deps.registry
  const m = {
    clients: gauge(r, 'sluice_ws_clients', 'Connected WebSocket clients.'),
    sent: counter(r, 'sluice_ws_messages_sent_total', 'Messages written to clients.'),
    dropped: counter(r, 'sluice_ws_messages_dropped_total', 'Messages dropped for slow or paused clients.'),
    queueDepth: histogram(r, 'sluice_ws_client_queue_messages', 'Per-client queue depth, sampled every second.', BATCH_SIZE_BUCKETS),
    latency: histogram(r, 'sluice_ws_delivery_latency_seconds', 'From a record being observed by Sluice to its fan-out.', LATENCY_BUCKETS_SECONDS),
  }
  const clients = new Set<StreamClient>()
  // Most dashboards follow a few services: clients are indexed by their services filter so a log
  // is matched against its service's subscribers and the unfiltered ones, not every client.
  const byService = new Map<string, Set<StreamClient>>()
  const anyService = new Set<StreamClient>()
  const unindex = (c: StreamClient) => {
    anyService.delete(c)
    for (const s of c.services ?? []) byService.get(s)?.delete(c)
  }
  const index = (c: StreamClient) => {
    if (!c.channels.has('logs')) return
    if (!c.services) anyService.add(c)
    else for (const s of c.services) (byService.get(s) ?? byService.set(s, new Set()).get(s)!).add(c)
  }
  const stats = new Map<string, { total: number; errors: number }>()
  // Clients with frames to write, pumped together once per turn of the event loop.
  const pending = new Set<StreamClient>()
  let pumpScheduled = false
  const pumpPending = () => {
    pumpScheduled = false
    for (const c of pending) c.pump()
    pending.clear()
  }
  const schedulePump = (c: StreamClient) => {
    pending.add(c)
    if (!pumpScheduled) {
      pumpScheduled = true
      setImmediate(pumpPending)
    }
  }
  const consumer: Consumer = deps.kafka.consumer({ groupId: `${config.groupPrefix}-${randomUUID()}`, maxWaitTimeInMs: 100 })
  let running = false

  const checks: Record<string, HealthCheck> = {
    ...deps.checks,
    consumer: async () => {
      if (!running) throw new Error('consumer not running')
    },
  }
  const app = createHttpApp({ logger: log, registry: r, checks })
  void app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  const page = buildPage()
  // Handled here so a missing asset is a logged 500 on `/`, not an unhandled rejection.
  page.catch((err: unknown) => log.error({ err }, 'live page assets unavailable'))
  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send((await page).html))
  app.get('/app.js', async (_req, reply) => reply.type('text/javascript; charset=utf-8').send((await page).js))
  void app.register(async (api) => {
    api.get('/v1/stream', { websocket: true }, (socket, req) => {
      if (clients.size >= config.maxClients) {
        socket.close(CLOSE_TRY_AGAIN_LATER, `connection limit of ${config.maxClients} reached, retry later`)
        return
      }
      const client = new StreamClient(socket, {
        queueMessages: config.queueMessages,
        stuckMs: config.stuckMs,
        onDropped: (n) => m.dropped.inc(n),
        onSent: (n) => m.sent.inc(n),
        onPending: schedulePump,
        authenticated: config.authSecret === undefined,
      })
      const authenticate = (token: string): boolean => {
        const v = verifyToken(config.authSecret!, token)
        if (!v.ok) {
          socket.close(CLOSE_UNAUTHORIZED, v.error)
          return false
        }
        client.tenant = v.payload.tenant
        client.authenticated = true
        return true
      }
      const queryToken = (req.query as { token?: unknown }).token
      if (config.authSecret !== undefined && typeof queryToken === 'string' && !authenticate(queryToken)) return
      const authTimer =
        client.authenticated ? undefined : setTimeout(() => !client.authenticated && socket.close(CLOSE_UNAUTHORIZED, 'authenticate within 10 s: send {"type":"auth","token":…}'), 10_000)
      clients.add(client)
      m.clients.set(clients.size)
      let alive = true
      socket.on('pong', () => (alive = true))
      // Idle: connected but subscribed to nothing (never, or after unsubscribing everything).
      let idleTimer: NodeJS.Timeout | undefined
      const watchIdle = () => {
        clearTimeout(idleTimer)
        idleTimer =
          client.channels.size > 0
            ? undefined
            : setTimeout(() => socket.close(CLOSE_IDLE, `idle: subscribed to nothing for ${config.idleTimeoutMs} ms`), config.idleTimeoutMs)
      }
      watchIdle()
      const heartbeat = setInterval(() => {
        if (!alive) return socket.terminate()
        alive = false
        socket.ping()
      }, config.heartbeatMs)
      socket.on('close', () => {
        clearInterval(heartbeat)
        clearTimeout(authTimer)
        clearTimeout(idleTimer)
        clients.delete(client)
        unindex(client)
        m.clients.set(clients.size)
      })
      socket.on('message', (data, isBinary) => {
        if (isBinary) return client.reply({ type: 'error', message: 'binary frames are not accepted; send JSON text' })
        const parsed = parseClientMessage(data.toString())
        if (!parsed.ok) return client.reply({ type: 'error', message: parsed.error })
        const msg = parsed.message
        if (msg.type === 'auth') {
          if (config.authSecret === undefined) return client.reply({ type: 'error', message: 'auth is not enabled on this server' })
          if (authenticate(msg.token)) client.reply({ type: 'authenticated', tenant: client.tenant })
          return
        }
        if (!client.authenticated) return client.reply({ type: 'error', message: 'authenticate first: send {"type":"auth","token":…} or connect with ?token=' })
        if (msg.type === 'subscribe') {
          unindex(client)
          for (const c of msg.channels) client.channels.add(c)
          client.setFilters(msg.filters)
          index(client)
          watchIdle()
          client.reply({ type: 'subscribed', channels: [...client.channels] })
        } else if (msg.type === 'unsubscribe') {
          unindex(client)
          for (const c of msg.channels) client.channels.delete(c)
          index(client)
          watchIdle()
          client.reply({ type: 'subscribed', channels: [...client.channels] })
        } else if (msg.type === 'pause') {
          client.paused = true
          client.reply({ type: 'paused' })
        } else {
          client.paused = false
          client.reply({ type: 'resumed' })
          client.pump()
        }
      })
    })
  })

  const onLog = (e: EnrichedLog) => {
    const s = stats.get(e.service) ?? { total: 0, errors: 0 }
    s.total++
    if (e.is_error) s.errors++
    stats.set(e.service, s)
    let frame: Buffer | undefined
    const deliver = (c: StreamClient) => {
      if (!c.wantsLog(e)) return
      frame ??= textFrame(JSON.stringify({ type: 'log', data: toJson(e) }))
      c.offer(frame)
    }
    byService.get(e.service)?.forEach(deliver)
    anyService.forEach(deliver)
    if (frame) m.latency.observe(Date.now() / 1000 - Number(e.observed_timestamp / 1_000_000n) / 1000)
  }
  const onAlert = (a: Alert) => {
    let frame: Buffer | undefined
    for (const c of clients) {
      if (!c.wantsAlert(a)) continue
      frame ??= textFrame(JSON.stringify({ type: 'alert', data: toJson(a) }))
      c.offer(frame)
    }
  }

  let pumpTimer: NodeJS.Timeout | undefined
  let statsTimer: NodeJS.Timeout | undefined
  const tickStats = () => {
    const seconds = config.statsIntervalMs / 1000
    const frames = [...stats].map(([service, s]) => textFrame(JSON.stringify({ type: 'stats', data: { service, ratePerS: s.total / seconds, errorRatePerS: s.errors / seconds } })))
    stats.clear()
    for (const c of clients) {
      m.queueDepth.observe(c.queued)
      if (c.channels.has('stats')) for (const f of frames) c.offer(f)
    }
  }

  return {
    name: 'ws-fanout' as const,
    app,
    async start(): Promise<string> {
      await consumer.connect()
      await consumer.subscribe({ topics: [config.topicEnriched, config.topicAlerts], fromBeginning: false })
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const isAlert = batch.topic === config.topicAlerts
          for (const message of batch.messages) {
            try {
              if (isAlert) onAlert(await deps.alertCodec.decode(message.value))
              else onLog(await deps.enrichedCodec.decode(message.value))
            } catch (err) {
              // Live view only: an undecodable record is skipped (the enricher's DLQ keeps it).
              log.warn({ err, topic: batch.topic, offset: message.offset }, 'skipping undecodable record')
            }
          }
        },
      })
      running = true
      pumpTimer = setInterval(() => {
        for (const c of clients) c.pump()
      }, PUMP_INTERVAL_MS)
      statsTimer = setInterval(tickStats, config.statsIntervalMs)
      return app.listen({ host: config.host, port: config.port })
    },
    async close(): Promise<void> {
      clearInterval(pumpTimer)
      clearInterval(statsTimer)
      for (const c of clients) c.socket.close(1001, 'server shutting down')
      await app.close()
      await consumer.disconnect()
      running = false
    },
    health: () => runHealthChecks(checks),
  }
}
