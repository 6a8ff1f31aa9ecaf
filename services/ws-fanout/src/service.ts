// ws-fanout: logs.enriched, alerts and the notification inbox → WebSocket clients, filtered
// server-side. One live stage on the consumer runner, decoding per topic (Avro for logs and
// alerts, JSON for the inbox, notifications.ts): each instance reads from the latest offsets in a
// consumer group of its own (instances scale horizontally behind a load balancer, each seeing
// every partition), commits nothing, and skips what it cannot decode. While nobody is
// subscribed the stage is idle and nothing is fetched; the first subscription resumes from the
// latest offsets. Transform: decode and match against the subscribers (fanout.ts); sink: queue
// each frame on the clients that want it, written once per turn of the event loop.
import { randomUUID } from 'node:crypto'
import websocket from '@fastify/websocket'
import { z } from 'zod'
import type { Alert, EnrichedLog } from '@sluice/core'
import type { Batch, RecordFailure, Stage, Transformed } from '@sluice/kafka'
import { BATCH_SIZE_BUCKETS, counter, createHttpApp, gauge, histogram, websocketOnly } from '@sluice/observability'
import type { Codec, DepsFor, ServiceInstance } from '@sluice/service'
import { StreamClient } from './client.js'
import type { Config } from './config.js'
import { verifyToken } from './auth.js'
import { Fanout } from './fanout.js'
import type { Delivery } from './fanout.js'
import { decodeInboxChange } from './notifications.js'
import { buildPage } from './page.js'
import { parseClientMessage } from './protocol.js'

export type FanoutDeps = DepsFor<{ kafka: true; registry: true }>

const CLOSE_TRY_AGAIN_LATER = 1013
const CLOSE_UNAUTHORIZED = 4001
const CLOSE_IDLE = 4002
/** Finer than the shared latency buckets where a live view's latency lives (10–250 ms). */
const DELIVERY_BUCKETS_SECONDS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10]
const PUMP_INTERVAL_MS = 50
const PUMP_COALESCE_MS = 3

/** Decodes a batch's values; what cannot be decoded is reported as failed (the runner skips it). */
async function decodeAll<T>(codec: Codec<T>, batch: Batch<Buffer | null>): Promise<{ values: Array<T | undefined>; failed: RecordFailure[] }> {
  const values: Array<T | undefined> = []
  const failed: RecordFailure[] = []
  for (const [index, bytes] of batch.values.entries()) {
    try {
      values.push(codec.decodeSync(bytes) ?? (await codec.decode(bytes)))
    } catch (error) {
      values.push(undefined)
      failed.push({ index, error })
    }
  }
  return { values, failed }
}

export function createService(config: Config, deps: FanoutDeps): ServiceInstance & { fanout: Fanout } {
  const log = deps.logger.child({ service: 'ws-fanout' })
  const r = deps.registry
  const m = {
    clients: gauge(r, 'sluice_ws_clients', 'Connected WebSocket clients.'),
    sent: counter(r, 'sluice_ws_messages_sent_total', 'Messages written to clients.'),
    dropped: counter(r, 'sluice_ws_messages_dropped_total', 'Messages dropped for slow or paused clients.'),
    queueDepth: histogram(r, 'sluice_ws_client_queue_messages', 'Per-client queue depth, sampled every second.', BATCH_SIZE_BUCKETS),
    latency: histogram(r, 'sluice_ws_delivery_latency_seconds', 'From a record being observed by Sluice to its fan-out.', DELIVERY_BUCKETS_SECONDS),
  }
  const fanout = new Fanout()
  const clients = new Set<StreamClient>()
  // Clients with frames to write, pumped together a few milliseconds after the first frame: a
  // fetch's partitions arrive as separate batches in quick succession, and one socket write per
  // client for all of them costs a third of the system calls (the fan-out's main cost).
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
      setTimeout(pumpPending, PUMP_COALESCE_MS)
    }
  }

  const app = createHttpApp({
    name: 'ws-fanout',
    description: 'Live logs, alerts, notification inbox changes and per-service stats over WebSocket (/v1/stream), and the live page.',
    logger: log,
    registry: r,
    checks: deps.checks,
    access: { security: deps.security, scope: 'query' },
  })
  void app.register(websocket, { options: { maxPayload: 64 * 1024 } })
  const page = buildPage()
  // Handled here so a missing asset is a logged 500 on `/`, not an unhandled rejection.
  page.catch((err: unknown) => log.error({ err }, 'live page assets unavailable'))
  void app.register(async (api) => {
    const tags = ['live']
    api.get('/', { schema: { tags, summary: 'The live page' } }, async (_req, reply) => reply.type('text/html; charset=utf-8').send((await page).html))
    api.get('/app.js', { schema: { tags, summary: "The live page's script" } }, async (_req, reply) => reply.type('text/javascript; charset=utf-8').send((await page).js))
    const streamSchema = {
      tags,
      summary: 'WebSocket: subscribe to channels (logs, alerts, stats) with filters; JSON messages both ways',
      querystring: z.object({ token: z.string().max(4096).optional() }),
    }
    api.route({ method: 'GET', url: '/v1/stream', schema: streamSchema, handler: websocketOnly, wsHandler: (socket, req) => {
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
      fanout.add(client)
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
        fanout.remove(client)
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
          fanout.update(client, () => {
            for (const c of msg.channels) client.channels.add(c)
            client.setFilters(msg.filters)
          })
          watchIdle()
          client.reply({ type: 'subscribed', channels: [...client.channels] })
        } else if (msg.type === 'unsubscribe') {
          fanout.update(client, () => {
            for (const c of msg.channels) client.channels.delete(c)
          })
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
    } })
  })

  const deliver = (d: Delivery) => {
    for (const c of d.to) c.offer(d.frame)
    if (d.observedMs !== undefined) m.latency.observe((Date.now() - d.observedMs) / 1000)
  }

  type Transform = (batch: Batch<Buffer | null>) => Promise<Transformed<Delivery>>
  const logs: Transform = async (batch) => {
    const { values, failed } = await decodeAll<EnrichedLog>(deps.codecs.enriched, batch)
    const outputs: Delivery[] = []
    for (const e of values) {
      const d = e && fanout.log(e)
      if (d) outputs.push(d)
    }
    return { outputs, failed }
  }
  const alerts: Transform = async (batch) => {
    const { values, failed } = await decodeAll<Alert>(deps.codecs.alert, batch)
    const outputs: Delivery[] = []
    for (const a of values) {
      const d = a && fanout.alert(a)
      if (d) outputs.push(d)
    }
    return { outputs, failed }
  }
  const notifications: Transform = async (batch) => {
    const outputs: Delivery[] = []
    const failed: RecordFailure[] = []
    for (const [index, record] of batch.records.entries()) {
      try {
        const d = fanout.notification(decodeInboxChange(record.key, batch.values[index]!))
        if (d) outputs.push(d)
      } catch (error) {
        failed.push({ index, error })
      }
    }
    return { outputs, failed }
  }
  // Chosen per topic once; logs.enriched is the rest.
  const byTopic = new Map<string, Transform>([
    [config.topicAlerts, alerts],
    [config.topicNotifications, notifications],
  ])

  const stage: Stage<Buffer | null, Delivery> = {
    name: 'ws-fanout',
    // Live: each batch goes out as soon as it is transformed.
    flush: { maxRecords: 1, intervalMs: 50 },
    idle: () => !fanout.listening,
    async transform(batch): Promise<Transformed<Delivery>> {
      // Nobody watching (the runner is about to pause): nothing to decode or match.
      if (!fanout.listening) return { outputs: [] }
      return (byTopic.get(batch.topic) ?? logs)(batch)
    },
    sink: async (deliveries) => deliveries.forEach(deliver),
  }

  let pumpTimer: NodeJS.Timeout | undefined
  let statsTimer: NodeJS.Timeout | undefined
  return {
    app,
    fanout,
    listen: { host: config.host, port: config.port },
    consumers: [{ stage, groupId: `${config.groupPrefix}-${randomUUID()}`, topics: [config.topicEnriched, config.topicAlerts, config.topicNotifications], live: true }],
    async start() {
      pumpTimer = setInterval(() => {
        for (const c of clients) c.pump()
      }, PUMP_INTERVAL_MS)
      statsTimer = setInterval(() => {
        for (const c of clients) m.queueDepth.observe(c.queued)
        fanout.stats(config.statsIntervalMs).forEach(deliver)
      }, config.statsIntervalMs)
    },
    async close() {
      clearInterval(pumpTimer)
      clearInterval(statsTimer)
      for (const c of clients) c.socket.close(1001, 'server shutting down')
    },
  }
}
