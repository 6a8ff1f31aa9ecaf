// The hardening every service's server gets from createHttpApp: security headers on every answer
// (refusals and 404s too), the API and Swagger UI policies, CORS closed unless origins are listed,
// and the timeouts and limits against slow or greedy clients — without cutting WebSocket streams.
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'
import websocket from '@fastify/websocket'
import { describe, expect, it, onTestFinished } from 'vitest'
import WebSocket from 'ws'
import { DEFAULT_HTTP_SETTINGS, createProcessSecurity, hashKey, loadSecurityConfig } from '@sluice/auth'
import type { HttpSettings } from '@sluice/auth'
import { API_CSP, DOCS_CSP, htmlCsp } from './hardening.js'
import { createHttpApp, websocketOnly } from './http.js'
import { createLogger } from './logger.js'
import { createRegistry } from './metrics.js'

const KEY = 'k-secret'

function build(http: Partial<HttpSettings> = {}, auth = false) {
  const log = createLogger({ level: 'silent' })
  const config = loadSecurityConfig({ SLUICE_AUTH: auth, SLUICE_API_KEYS: JSON.stringify({ keys: [{ id: 'k', sha256: hashKey(KEY), tenants: ['acme'], scopes: ['query'] }] }), SLUICE_API_KEYS_RELOAD_MS: 5000 })
  const security = { ...createProcessSecurity(config, { log, retentionDays: 30 }).forService('test'), http: { ...DEFAULT_HTTP_SETTINGS, ...http } }
  const app = createHttpApp({ name: 'test', logger: log, registry: createRegistry({ defaultMetrics: false }), checks: {}, access: { security, scope: 'query' } })
  onTestFinished(() => app.close())
  return app
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-resource-policy': 'same-origin',
}

describe('security headers', () => {
  it('go on every answer: success, 400, 401, 404, 500 and an over-long path parameter', async () => {
    const app = build({ maxParamLength: 20 }, true)
    void app.register(async (api) => {
      api.get('/v1/boom', async () => {
        throw new Error('secret internals at /srv/app.js:12')
      })
      api.get('/v1/things/:id', async (req) => ({ id: (req.params as { id: string }).id }))
    })
    const auth = { authorization: `Bearer ${KEY}` }
    const answers = {
      ok: await app.inject({ url: '/v1/things/a', headers: auth }),
      unauthorized: await app.inject({ url: '/v1/things/a' }),
      missing: await app.inject({ url: '/nowhere', headers: auth }),
      failed: await app.inject({ url: '/v1/boom', headers: auth }),
      longParam: await app.inject({ url: `/v1/things/${'x'.repeat(21)}`, headers: auth }),
      health: await app.inject({ url: '/healthz' }),
    }
    expect(Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.statusCode]))).toEqual({ ok: 200, unauthorized: 401, missing: 404, failed: 500, longParam: 414, health: 200 })
    for (const [name, res] of Object.entries(answers)) {
      expect(res.headers, name).toMatchObject(SECURITY_HEADERS)
      expect(res.headers['content-security-policy'], name).toBe(API_CSP)
    }
    expect(answers.failed.json()).toEqual({ error: 'INTERNAL', message: 'internal error' })
    expect(answers.longParam.json()).toMatchObject({ error: 'FST_ERR_MAX_PARAM_LENGTH' })
  })

  it("leave a route's own policy in place, and give Swagger UI one it loads under", async () => {
    const app = build()
    void app.register(async (api) => {
      api.get('/page', async (_req, reply) => reply.type('text/html').header('content-security-policy', "default-src 'self'").send('<p>hi</p>'))
    })
    expect((await app.inject({ url: '/page' })).headers['content-security-policy']).toBe("default-src 'self'")
    for (const url of ['/docs/', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js']) {
      const res = await app.inject({ url })
      expect(res.statusCode, url).toBe(200)
      expect(res.headers['content-security-policy'], url).toBe(DOCS_CSP)
    }
    // Swagger UI's page loads its scripts from files, none inline, so script-src 'self' holds.
    const html = (await app.inject({ url: '/docs/' })).body
    expect([...html.matchAll(/<script(?![^>]*\ssrc=)[^>]*>/g)]).toEqual([])
  })
})

describe('htmlCsp', () => {
  it('allows exactly the inline styles and scripts of the page by hash, and no other inline code', () => {
    const style = '\n  body { color: red; }\n'
    const csp = htmlCsp(`<html><head><style>${style}</style><script type="module" src="/app.js"></script></head></html>`)
    const hash = createHash('sha256').update(style).digest('base64')
    expect(csp).toContain(`style-src 'self' 'sha256-${hash}'`)
    expect(csp).toContain("script-src 'self';")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(csp).not.toContain('unsafe-inline')
  })
})

describe('CORS', () => {
  const preflight = (origin: string) => ({
    method: 'OPTIONS' as const,
    url: '/v1/things',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
  })

  it('is closed by default: no CORS headers, preflights not answered', async () => {
    const app = build()
    void app.register(async (api) => api.get('/v1/things', async () => ({ ok: true })))
    const res = await app.inject({ url: '/v1/things', headers: { origin: 'https://evil.example' } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
    const pre = await app.inject(preflight('https://evil.example'))
    expect(pre.statusCode).toBe(404)
    expect(pre.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('answers listed origins only, preflights included, with the credential headers allowed even when keys are required', async () => {
    const app = build({ corsOrigins: ['https://app.example'] }, true)
    void app.register(async (api) => api.get('/v1/things', async () => ({ ok: true })))
    const pre = await app.inject(preflight('https://app.example'))
    expect(pre.statusCode).toBe(204)
    expect(pre.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(String(pre.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/)).toEqual(
      expect.arrayContaining(['authorization', 'x-api-key', 'x-scope-orgid', 'content-type', 'content-encoding']),
    )
    const other = await app.inject(preflight('https://evil.example'))
    expect(other.statusCode).toBe(404)
    expect(other.headers['access-control-allow-origin']).toBeUndefined()

    const res = await app.inject({ url: '/v1/things', headers: { origin: 'https://app.example', 'x-api-key': KEY } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example')
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin')
    expect(res.headers.vary).toMatch(/origin/i)
    const denied = await app.inject({ url: '/v1/things', headers: { origin: 'https://evil.example', 'x-api-key': KEY } })
    expect(denied.headers['access-control-allow-origin']).toBeUndefined()
    expect(denied.headers['cross-origin-resource-policy']).toBe('same-origin')
  })
})

/** A raw TCP client: what a slow or greedy client does, byte by byte. */
async function rawClient(port: number) {
  const socket = net.connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (d: Buffer) => (received += d.toString()))
  socket.on('error', () => {})
  const closed = once(socket, 'close')
  return { socket, closed, received: () => received }
}

async function listen(app: ReturnType<typeof build>): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 })
  return (app.server.address() as net.AddressInfo).port
}

describe('limits against slow and greedy clients', () => {
  it('answers 408 and closes a connection whose request does not arrive within the request timeout', async () => {
    const app = build({ requestTimeoutMs: 300 })
    const port = await listen(app)
    const c = await rawClient(port)
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
    await c.closed
    expect(c.received()).toMatch(/^HTTP\/1\.1 408 /)
  })

  it('keeps a WebSocket open past the request timeout: the upgrade ends the request', async () => {
    const app = build({ requestTimeoutMs: 200, idleTimeoutMs: 200 })
    void app.register(websocket)
    void app.register(async (api) => {
      api.route({ method: 'GET', url: '/v1/echo', handler: websocketOnly, wsHandler: (socket) => {
        socket.on('message', (m) => socket.send(`echo ${String(m)}`))
      } })
    })
    const port = await listen(app)
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/echo`)
    onTestFinished(() => ws.terminate())
    await once(ws, 'open')
    let closed = false
    ws.on('close', () => (closed = true))
    // Several of Node's deadline checks (every 50 ms here) pass while the stream is quiet.
    await new Promise((r) => setTimeout(r, 1000))
    ws.send('still there?')
    const [reply] = (await once(ws, 'message')) as [Buffer]
    expect(String(reply)).toBe('echo still there?')
    expect(closed).toBe(false)
  })

  it('answers 431 to headers over the limit', async () => {
    const app = build({ maxHeaderBytes: 2048 })
    const port = await listen(app)
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-big': 'a'.repeat(4096) } })
    expect(res.status).toBe(431)
    expect((await fetch(`http://127.0.0.1:${port}/healthz`, { headers: { 'x-small': 'a'.repeat(512) } })).status).toBe(200)
  })

  it('closes connections beyond the per-server limit and serves those within it', async () => {
    const app = build({ maxConnections: 1 })
    const port = await listen(app)
    const first = await rawClient(port)
    onTestFinished(() => {
      first.socket.destroy()
    })
    first.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    while (!first.received().includes('"ok"')) await once(first.socket, 'data')
    const second = await rawClient(port)
    second.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    await second.closed
    expect(second.received()).toBe('')
    expect(first.socket.destroyed).toBe(false)
  })

  it('bounds the body of every route, also where the service names no limit (413 naming it)', async () => {
    const app = build()
    void app.register(async (api) => api.post('/v1/things', async () => ({ ok: true })))
    const res = await app.inject({ method: 'POST', url: '/v1/things', payload: JSON.stringify({ pad: 'a'.repeat(1_100_000) }), headers: { 'content-type': 'application/json' } })
    expect(res.statusCode).toBe(413)
    expect(res.json()).toMatchObject({ error: 'PAYLOAD_TOO_LARGE', limitBytes: 1_048_576 })
    expect(res.headers['x-content-type-options']).toBe('nosniff')
  })

  it('gives every service the defaults when the process names no settings', () => {
    const app = build()
    expect(app.initialConfig).toMatchObject({ requestTimeout: 60_000, connectionTimeout: 120_000, keepAliveTimeout: 72_000 })
    expect(app.server.maxConnections).toBe(10_000)
    expect((app.server as unknown as { maxHeaderSize?: number }).maxHeaderSize).toBe(16_384)
  })
})
