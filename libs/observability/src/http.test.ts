// The HTTP app every service builds on: its OpenAPI document made from the routes' zod schemas,
// Swagger UI, the start-up check that no route is left out, and 400s naming what was wrong.
import http from 'node:http'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import type { FastifyRequest } from 'fastify'
import { describe, expect, it, onTestFinished } from 'vitest'
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
    // Given twice: said so, not "expected number, received NaN".
    expect((await app.inject({ url: '/x?limit=1&limit=2' })).json()).toEqual({ error: 'VALIDATION_FAILED', message: 'parameter limit: given 2 times; give it once' })
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

interface Answer {
  status: number | string
  body: string
  continued: boolean
}

/**
 * POSTs `bytes` bytes as Node's http client does, with `Expect: 100-continue` (the body sent once
 * the 100 comes) or without (sent at once); a connection error is the answer's status.
 */
function post(port: number, bytes: number, expectContinue = false): Promise<Answer> {
  return new Promise((resolve) => {
    let continued = false
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/in', agent: false, headers: { 'content-type': 'application/octet-stream', 'content-length': bytes, ...(expectContinue && { expect: '100-continue' }) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        req.destroy()
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), continued })
      })
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ status: err.code ?? err.message, body: '', continued }))
    if (!expectContinue) return void req.end(Buffer.alloc(bytes, 0x20))
    req.on('continue', () => {
      continued = true
      req.end(Buffer.alloc(bytes, 0x20))
    })
  })
}

/**
 * POSTs `bytes` bytes over a raw socket and reads the answer only after `readAfterMs`, as a client
 * busy writing its body reads it; the answer's status line, or the connection error.
 */
function postReadingLate(port: number, bytes: number, readAfterMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    socket.pause()
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    socket.on('end', () => {
      socket.destroy()
      resolve(Buffer.concat(chunks).toString().split('\r\n')[0]!)
    })
    socket.write(`POST /in HTTP/1.1\r\nhost: test\r\ncontent-type: application/octet-stream\r\ncontent-length: ${bytes}\r\n\r\n`)
    socket.write(Buffer.alloc(bytes, 0x20), () => {})
    setTimeout(() => socket.resume(), readAfterMs)
  })
}

describe('a body over the limit', () => {
  async function listening() {
    const app = createHttpApp({ name: 'test', logger: createLogger({ level: 'silent' }), registry: createRegistry({ defaultMetrics: false }), checks: {}, bodyLimit: 1024 })
    void app.register(async (api) => {
      api.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
      api.post('/in', async (req) => ({ bytes: (req.body as Buffer).length }))
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    onTestFinished(() => app.close())
    return (app.server.address() as AddressInfo).port
  }

  it('is answered 413 and the client reads it, rather than a reset while it still sends', async () => {
    const port = await listening()
    // Before, Node destroyed the socket with the body still arriving: most of these were EPIPE or ECONNRESET.
    const answers: Answer[] = []
    for (let i = 0; i < 6; i++) answers.push(await post(port, 16 * 1024 * 1024))
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(413))
    expect(JSON.parse(answers[0]!.body)).toEqual({ error: 'PAYLOAD_TOO_LARGE', message: 'request body exceeds the limit of 1024 bytes', limitBytes: 1024 })
    // The connection is not kept for the next request, and a body within the limit still goes through.
    expect(await post(port, 1000)).toMatchObject({ status: 200, body: '{"bytes":1000}' })
  })

  it('is answered 413 to a client that reads only after a while, instead of a reset that drops the answer unread', async () => {
    const port = await listening()
    // Before, the socket was destroyed with the body still arriving: a reset, EPIPE every time.
    const answers: string[] = []
    for (let i = 0; i < 3; i++) answers.push(await postReadingLate(port, 16 * 1024 * 1024, 300))
    expect(answers).toEqual(Array(3).fill('HTTP/1.1 413 Payload Too Large'))
  })

  it('announced with Expect: 100-continue gets its 413 without a 100 Continue; a body within the limit gets the 100', async () => {
    const port = await listening()
    expect(await post(port, 16 * 1024 * 1024, true)).toMatchObject({ status: 413, continued: false, body: expect.stringContaining('PAYLOAD_TOO_LARGE') })
    expect(await post(port, 1000, true)).toEqual({ status: 200, continued: true, body: '{"bytes":1000}' })
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

