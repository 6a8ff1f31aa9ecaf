// ws-fanout: logs.enriched, alerts and the notification inbox → WebSocket clients, filtered
// server-side. One live stage on the consumer runner, decoding per topic (Avro for logs and
// alerts, JSON for the inbox, notifications.ts): each instance reads from the latest offsets in a
// consumer group of its own (instances scale horizontally behind a load balancer, each seeing
// every partition), commits nothing, and skips what it cannot decode. While nobody is
// subscribed the stage is idle and nothing is fetched; the first subscription resumes from the
// records stamped since it came (runner.ts, #liveSince). Transform: decode and match against
// the subscribers (fanout.ts); sink: queue each frame on the clients that want it, written in
// rounds (writes.ts).
// Who may stream which tenant, tokens and per-tenant connection limits: access.ts. Every close
// goes through close.ts.
import { randomUUID } from 'node:crypto'
import websocket from '@fastify/websocket'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { WebSocket, WebSocketServer } from 'ws'
import { z } from 'zod'
import { LOKI_TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import { SluiceError, TENANT_PATTERN } from '@sluice/core'
import type { Alert, EnrichedLog } from '@sluice/core'
import type { Batch, RecordFailure, Stage, Transformed } from '@sluice/kafka'
import { BATCH_SIZE_BUCKETS, counter, createHttpApp, gauge, histogram, websocketErrorHandler, websocketOnly } from '@sluice/observability'
import type { ZodTypeProvider } from '@sluice/observability'
import type { Codec, DepsFor, ServiceInstance } from '@sluice/service'
import { StreamClient } from './client.js'
import { StreamAccess } from './access.js'
import type { KeyAccess } from './access.js'
import { CLOSE_GOING_AWAY, CLOSE_IDLE, CLOSE_TENANT_LIMIT, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED, closeWith } from './close.js'
import { TOKEN_MAX_TTL_SECONDS } from './config.js'
import type { Config } from './config.js'
import { Fanout } from './fanout.js'
import type { Delivery } from './fanout.js'
import { decodeInboxChange } from './notifications.js'
import { buildPage } from './page.js'
import { MAX_PAYLOAD_BYTES, parseClientMessage } from './protocol.js'
import { WriteScheduler } from './writes.js'
import { Heartbeats } from './heartbeat.js'

export type FanoutDeps = DepsFor<{ kafka: true; registry: true }>

const STREAM_PATH = '/v1/stream'
const SHUTDOWN_REASON = 'server shutting down'
const AUTH_TIMEOUT_MS = 10_000
/** Finer than the shared latency buckets where a live view's latency lives (10–250 ms). */
const DELIVERY_BUCKETS_SECONDS = [0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.125, 0.15, 0.2, 0.25, 0.5, 1, 2.5, 5, 10]
const PUMP_INTERVAL_MS = 50
/**
 * How long frames wait for the ones behind them before the clients are written (writes.ts): the
 * partitions of one enricher fetch arrive as separate batches moments apart. 10 ms was needed
 * while the enricher produced partition by partition, 5–25 ms apart; since it produces once per
 * fetch (runner.ts, whenCaughtUp), 3 ms gives a lower p99 with less CPU (ws bench, three
 * alternating pairs: 99/82/69 ms against 107/85/78 ms, 35/31/31 % of a core against 36/36/33).
 */
const WRITE_COALESCE_MS = 3
/** How long a round of writes holds the event loop before it reads its sockets again (writes.ts). */
const WRITE_SLICE_MS = 2

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

/**
 * @fastify/websocket's preClose: the app closes before the service (the runtime closes in
 * reverse), and the plugin's default closes every socket without a code (1005). Going away instead.
 */
function closeAllGoingAway(wss: WebSocketServer): void {
  for (const socket of wss.clients) closeWith(socket, CLOSE_GOING_AWAY, SHUTDOWN_REASON)
  wss.close()
}

/**
 * Refuses a WebSocket upgrade to any route but the stream before it is accepted: @fastify/websocket
 * would accept it on `/` or `/app.js` and close it at once with no code or reason.
 */
async function refuseOtherUpgrades(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (req.ws && req.routeOptions.url !== STREAM_PATH) {
    await reply.code(404).send({ error: 'NOT_FOUND', message: `no WebSocket at ${req.url.split('?')[0]}: the live stream is ${STREAM_PATH}` })
  }
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
    received: histogram(
      r,
      'sluice_ws_enriched_age_seconds',
      'Age of an enriched record when ws-fanout reads it, from its Kafka timestamp (the enricher producing it): the Kafka hop of the delivery latency.',
      DELIVERY_BUCKETS_SECONDS,
    ),
    refused: counter(r, 'sluice_ws_connections_refused_total', 'Stream connections closed before use, by reason (max_clients|tenant_limit|unauthorized).', ['reason']),
  }
  const access = new StreamAccess(deps.security, config.authSecret)
  // The tenant the upgrade request is bound to (its API key's, or the one it names without
  // authentication), found before the upgrade (preHandler), for the socket's handler.
  const bound = new WeakMap<object, Pick<KeyAccess, 'tenant'>>()
  const fanout = new Fanout()
  const clients = new Set<StreamClient>()
  const writes = new WriteScheduler<StreamClient>({ coalesceMs: WRITE_COALESCE_MS, sliceMs: WRITE_SLICE_MS })
  const heartbeats = new Heartbeats<WebSocket>({ intervalMs: config.heartbeatMs })

  const app = createHttpApp({
    name: 'ws-fanout',
    description: 'Live logs, alerts, notification inbox changes and per-service stats over WebSocket (/v1/stream), and the live page.',
    logger: log,
    registry: r,
    checks: deps.checks,
    access: { security: deps.security, scope: 'query' },
  })
  void app.register(websocket, { options: { maxPayload: MAX_PAYLOAD_BYTES }, preClose: async () => closeAllGoingAway(app.websocketServer), errorHandler: websocketErrorHandler })
  app.addHook('onRequest', refuseOtherUpgrades)
  const page = buildPage()
  // Handled here so a missing asset is a logged 500 on `/`, not an unhandled rejection.
  page.catch((err: unknown) => log.error({ err }, 'live page assets unavailable'))
  const tokenBody = z
    .strictObject({
      tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
      ttl_seconds: z.number().int().min(1).max(TOKEN_MAX_TTL_SECONDS).optional(),
    })
    .nullish()
  void app.register(async (plain) => {
    const api = plain.withTypeProvider<ZodTypeProvider>()
    const tags = ['live']
    // The page and its script are public: it asks for a key only to mint a token (page/app.ts).
    const open = { public: true }
    api.get('/', { config: open, schema: { tags, summary: 'The live page' } }, async (_req, reply) => {
      const { html, csp } = await page
      return reply.type('text/html; charset=utf-8').header('content-security-policy', csp).send(html)
    })
    // Browsers ask for it: with keys on, a 404 would first be a 401 whose Basic challenge could prompt for a login.
    api.get('/favicon.ico', { config: open, schema: { hide: true } }, async (_req, reply) => reply.code(204).send())
    api.get('/app.js', { config: open, schema: { tags, summary: "The live page's script" } }, async (_req, reply) => reply.type('text/javascript; charset=utf-8').send((await page).js))

    api.post(
      '/v1/tokens',
      {
        schema: {
          tags,
          summary: `Mint a short-lived stream token for the key's tenant (for browsers, which cannot send a key on a WebSocket): {"tenant"?, "ttl_seconds"? ≤ ${TOKEN_MAX_TTL_SECONDS}}`,
          body: tokenBody,
        },
      },
      async (req) => {
        // With keys off anyone could mint any tenant's token: a backend holding WS_AUTH_SECRET mints them then.
        if (!deps.security.auth.enabled) throw new SluiceError('FORBIDDEN', 'stream tokens are minted for API keys: this server runs without them (SLUICE_AUTH=false); sign tokens with WS_AUTH_SECRET instead')
        const tenant = req.access.tenant(requestedTenant(req, LOKI_TENANT_HEADERS, req.body?.tenant), undefined)
        if (tenant === undefined) throw new SluiceError('VALIDATION_FAILED', 'this key may act as every tenant: name one (body field tenant, or X-Scope-OrgID)')
        const ttl = req.body?.ttl_seconds ?? TOKEN_MAX_TTL_SECONDS
        const { token, expiresAt } = access.mint(tenant, ttl)
        req.access.audit({ action: 'stream_token.create', outcome: 'ok', tenant, details: { ttl_seconds: ttl } })
        return { token, tenant, expires_at: expiresAt.toISOString() }
      },
    )

    const streamSchema = {
      tags,
      summary: 'WebSocket: subscribe to channels (logs, alerts, stats) with filters; JSON messages both ways. With auth on: an API key on the upgrade request, or a token (?token= or an auth message)',
      querystring: z.object({ token: z.string().max(4096).optional(), tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional() }),
    }
    api.route({
      method: 'GET',
      url: STREAM_PATH,
      // Public to the guard: a browser comes with a token, not a key. A key is checked here, before the upgrade.
      config: open,
      schema: streamSchema,
      preHandler: async (req) => {
        const chosen = access.keyOf(req) ?? access.named(req)
        if (chosen !== undefined) bound.set(req.raw, chosen)
      },
      handler: websocketOnly,
      wsHandler: (socket, req) => stream(socket, req),
    })
  })

  /** One stream connection, from the upgrade to its close. */
  const stream = (socket: WebSocket, req: FastifyRequest): void => {
    if (clients.size >= config.maxClients) {
      m.refused.inc({ reason: 'max_clients' })
      closeWith(socket, CLOSE_TRY_AGAIN_LATER, `connection limit of ${config.maxClients} reached, retry later`)
      return
    }
    const client = new StreamClient(socket, {
      queueMessages: config.queueMessages,
      stuckMs: config.stuckMs,
      onDropped: (n) => m.dropped.inc(n),
      onSent: (n) => m.sent.inc(n),
      onPending: (c) => writes.add(c),
      authenticated: !access.required,
    })
    /** The tenant whose connection slot this client holds. */
    let slot: string | undefined
    /** Binds the client to a tenant (undefined: every tenant), holding its slot; false when refused (and closed). */
    const bind = (tenant: string | undefined): boolean => {
      if (tenant !== slot) {
        if (tenant !== undefined && !access.acquire(tenant)) {
          m.refused.inc({ reason: 'tenant_limit' })
          closeWith(socket, CLOSE_TENANT_LIMIT, `tenant ${tenant} has ${access.limit(tenant)} live connections (ws_max_connections); retry later`)
          return false
        }
        if (slot !== undefined) access.release(slot)
        slot = tenant
      }
      client.tenant = tenant
      client.authenticated = true
      return true
    }
    const withToken = (token: string): boolean => {
      const v = access.verify(token)
      if (!v.ok) {
        m.refused.inc({ reason: 'unauthorized' })
        closeWith(socket, CLOSE_UNAUTHORIZED, v.error)
        return false
      }
      return bind(v.tenant)
    }
    socket.on('close', () => {
      if (slot !== undefined) access.release(slot)
      slot = undefined
    })
    const chosen = bound.get(req.raw)
    const queryToken = (req.query as { token?: unknown }).token
    if (chosen !== undefined) {
      if (!bind(chosen.tenant)) return
    } else if (access.required && typeof queryToken === 'string' && !withToken(queryToken)) return
    const authTimer = client.authenticated
      ? undefined
      : setTimeout(() => !client.authenticated && closeWith(socket, CLOSE_UNAUTHORIZED, `authenticate within ${AUTH_TIMEOUT_MS / 1000} s: send {"type":"auth","token":…}`), AUTH_TIMEOUT_MS)
    if (!client.authenticated) client.reply({ type: 'auth_required', message: 'send {"type":"auth","token":…} (a token from POST /v1/tokens), or connect with an API key or ?token=' })
    clients.add(client)
    fanout.add(client)
    m.clients.set(clients.size)
    heartbeats.add(socket)
    socket.on('pong', () => heartbeats.answered(socket))
    // Idle: connected but subscribed to nothing (never, or after unsubscribing everything).
    let idleTimer: NodeJS.Timeout | undefined
    const watchIdle = () => {
      clearTimeout(idleTimer)
      idleTimer =
        client.channels.size > 0
          ? undefined
          : setTimeout(() => closeWith(socket, CLOSE_IDLE, `idle: subscribed to nothing for ${config.idleTimeoutMs} ms`), config.idleTimeoutMs)
    }
    watchIdle()
    socket.on('close', () => {
      heartbeats.remove(socket)
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
        if (!access.required) return client.reply({ type: 'error', message: 'auth is not enabled on this server' })
        if (withToken(msg.token)) client.reply({ type: 'authenticated', tenant: client.tenant })
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
  }

  const deliver = (d: Delivery) => {
    for (const c of d.to) c.offer(d.frame)
    if (d.observedMs !== undefined) m.latency.observe((Date.now() - d.observedMs) / 1000)
  }

  type Transform = (batch: Batch<Buffer | null>) => Promise<Transformed<Delivery>>
  const logs: Transform = async (batch) => {
    const now = deps.clock()
    for (const record of batch.records) {
      const at = Number(record.timestamp)
      if (at > 0) m.received.observe(Math.max(0, now - at) / 1000)
    }
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
      writes.close()
      heartbeats.close()
      for (const c of clients) closeWith(c.socket, CLOSE_GOING_AWAY, SHUTDOWN_REASON)
    },
  }
}
