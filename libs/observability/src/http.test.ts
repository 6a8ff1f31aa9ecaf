// The HTTP app every service builds on: its OpenAPI document made from the routes' zod schemas,
// Swagger UI, the start-up check that no route is left out, and 400s naming what was wrong.
import type { AddressInfo } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { describe, expect, it } from 'vitest'
import { WebSocket, WebSocketServer } from 'ws'
import { z } from 'zod'
import { createHttpApp, undocumentedRoutes, websocketErrorHandler } from './http.js'
import { createLogger } from './logger.js'
import { createRegistry } from './metrics.js'

const build = () => createHttpApp({ name: 'test', logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {} })

describe('createHttpApp', () => {
  it('describes every route from the zod schemas that validate it', async () => {
    const app = build()
    void app.register(async (api) => {
      api.get('/v1/things/:id', { schema: { tags: ['things'], params: z.object({ id: z.string() }), querystring: z.strictObject({ limit: z.coerce.number().int().min(1).max(10).default(5) }) } }, async (req) => ({
        query: req.query,
      }))
    })
    const res = await app.inject({ url: '/openapi.json' })
    const spec = res.json()
    expect(spec.openapi).toBe('3.1.0')
    expect(spec.info.title).toBe('Sluice test')
    const op = spec.paths['/v1/things/{id}'].get
    expect(op.tags).toEqual(['things'])
    expect(op.parameters).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ in: 'path', name: 'id', required: true }),
        expect.objectContaining({ in: 'query', name: 'limit', required: false, schema: expect.objectContaining({ maximum: 10, minimum: 1 }) }),
      ]),
    )
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']))
    expect(spec.paths['/openapi.json']).toBeUndefined()
    expect(undocumentedRoutes(app)).toEqual([])
    expect((await app.inject({ url: '/v1/things/a?limit=3' })).json()).toEqual({ query: { limit: 3 } })
  })

  it('answers 400 naming the parameter, or the unknown ones, before the handler runs', async () => {
    const app = build()
    let ran = 0
    void app.register(async (api) => {
      api.get('/x', { schema: { querystring: z.strictObject({ limit: z.coerce.number().int().max(10) }) } }, async () => ({ ran: ++ran }))
      api.post('/y', { schema: { body: z.object({ by: z.string().min(1) }) } }, async () => ({ ran: ++ran }))
    })
    expect((await app.inject({ url: '/x?limit=11' })).json()).toEqual({ error: 'VALIDATION_FAILED', message: 'parameter limit: Too big: expected number to be <=10' })
    expect((await app.inject({ url: '/x?limit=1&colour=red' })).json()).toEqual({ error: 'VALIDATION_FAILED', message: 'unknown parameter(s): colour' })
    const body = await app.inject({ method: 'POST', url: '/y', payload: { by: '' } })
    expect(body.statusCode).toBe(400)
    expect(body.json().message).toMatch(/^body field by: /)
    expect(ran).toBe(0)
  })

  it('serves Swagger UI at /docs', async () => {
    const app = build()
    const res = await app.inject({ url: '/docs/' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/text\/html/)
    expect(res.body).toContain('swagger-ui')
  })

  it('refuses to start with a route the document would miss', async () => {
    const app = build()
    app.get('/early', async () => ({}))
    await expect(app.ready()).rejects.toThrow('routes missing from the OpenAPI document (register them in a plugin): GET /early')
  })
})

describe('websocketErrorHandler', () => {
  it("logs what a WebSocket client did (a frame over maxPayload) at debug, a handler's failure as an error, and ends the socket", async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', maxPayload: 16 })
    const logged: Array<[string, unknown]> = []
    const log = { debug: (o: unknown) => logged.push(['debug', o]), error: (o: unknown) => logged.push(['error', o]) } as unknown as FastifyRequest['log']
    let terminated = 0
    const handled = new Promise<void>((resolve) =>
      server.on('connection', (socket) =>
        socket.on('error', (err) => {
          websocketErrorHandler(err, { terminate: () => void (terminated++, socket.terminate()) }, { log })
          resolve()
        }),
      ),
    )
    await new Promise((resolve) => server.on('listening', resolve))
    try {
      const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`)
      const closed = new Promise<number>((resolve) => client.on('close', (code) => resolve(code)))
      await new Promise((resolve) => client.on('open', resolve))
      client.send('x'.repeat(100))
      await handled
      expect(await closed).toBe(1009)
      expect(logged).toEqual([['debug', { code: 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', message: 'Max payload size exceeded' }]])
      websocketErrorHandler(new Error('boom'), { terminate: () => void terminated++ }, { log })
      expect(logged[1]![0]).toBe('error')
      expect(terminated).toBe(2)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})

