// Datadog's log intake at /api/v2/logs and /v1/input without a broker: app.inject() against a
// fake producer and a JSON encoder. Asserted is what reaches the producer and what a Datadog
// client reads back.
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { validateLogInput } from '@sluice/core'
import { SKIP, Validated } from '../ingest.js'
import type { EventDefaults } from '../ingest.js'
import { routeGateway } from '../test-fakes.js'
import { parseTags, readLogs } from './datadog-logs.js'

const gateway = (opts: { auth?: boolean; maxBodyBytes?: number } = {}) => routeGateway({ ...opts, ...(opts.auth && { key: { secret: 'dd-key', tenant: 'acme' } }) })
type App = ReturnType<typeof gateway>['app']

const JSON_TYPE = { 'content-type': 'application/json' }
/** Datadog's error objects of `status`, one per detail. */
const dd = (status: number, title: string, ...details: unknown[]) => ({ errors: details.map((detail) => ({ status: String(status), title, detail })) })

const send = (app: App, body: unknown, headers: Record<string, string> = {}, url = '/api/v2/logs') =>
  app.inject({ method: 'POST', url, payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body), headers: { ...JSON_TYPE, ...headers } })

describe('parseTags', () => {
  it('splits k:v pairs at the first colon, keeps a bare tag with an empty value, skips blanks', () => {
    expect(parseTags('env:prod, version:1.4.2,url:http://x:80,canary,,:nokey')).toEqual({ env: 'prod', version: '1.4.2', url: 'http://x:80', canary: '' })
  })
})

describe('readLogs', () => {
  it('maps the reserved attributes and keeps the rest', () => {
    const { records, errors } = readLogs(
      [{ message: 'upstream timed out', status: 'error', service: 'checkout', hostname: 'web-1', ddsource: 'nginx', ddtags: 'env:prod,canary', timestamp: 1_765_100_000_123, http: { status_code: 504 }, level: 'debug' }],
      { ddtags: 'team:pay' },
    )
    expect(errors).toEqual([])
    expect(records).toEqual([
      {
        message: 'upstream timed out',
        level: 'error',
        service: 'checkout',
        host: 'web-1',
        timestamp: 1_765_100_000_123,
        resource: { team: 'pay', env: 'prod', canary: '', ddsource: 'nginx' },
        attributes: { http: { status_code: 504 }, level: 'debug' },
      },
    ])
  })

  it("reads the level from level or severity where no status names one, and keeps a status Sluice does not know as an attribute", () => {
    expect(readLogs({ message: 'm', level: 'warn' }, {}).records).toEqual([{ message: 'm', level: 'warn' }])
    expect(readLogs({ message: 'm', status: 'ok', severity: 'error' }, {}).records).toEqual([{ message: 'm', level: 'error', attributes: { status: 'ok' } }])
    expect(readLogs({ message: 'm', status: 'ok' }, {}).records).toEqual([{ message: 'm', attributes: { status: 'ok' } }])
  })

  it("reads the Lambda extension's message object, a message that is no string as JSON, and a log without one as its JSON", () => {
    const { records } = readLogs(
      [{ message: { message: 'START RequestId: 1', status: 'info', lamdba: { arn: 'arn:aws:lambda:x', request_id: '1' } } }, { message: 42 }, { service: 'quiet', note: 'x' }],
      {},
    )
    expect(records).toEqual([
      { message: 'START RequestId: 1', level: 'info', attributes: { 'lambda.arn': 'arn:aws:lambda:x', 'lambda.request_id': '1' } },
      { message: '42' },
      { service: 'quiet', message: '{"service":"quiet","note":"x"}', attributes: { note: 'x' } },
    ])
    expect(readLogs([{ msg: 'from msg', log: 'l' }, { log: 'from log' }], {}).records).toEqual([
      { message: 'from msg', attributes: { log: 'l' } },
      { message: 'from log' },
    ])
  })

  it('takes the time from timestamp, else date, else the dd-message-timestamp header', () => {
    expect(readLogs([{ message: 'a', timestamp: 1 }, { message: 'b', date: '2026-12-07T10:00:00Z' }, { message: 'c' }], { timestampMs: 1_765_100_000_000 }).records).toEqual([
      { message: 'a', timestamp: 1 },
      { message: 'b', timestamp: '2026-12-07T10:00:00Z' },
      { message: 'c', timestamp: 1_765_100_000_000 },
    ])
  })

  it('prefers hostname to host, keeping the other as an attribute', () => {
    expect(readLogs([{ message: 'a', host: 'h1', hostname: 'h2' }, { message: 'b', host: 'h3' }], {}).records).toEqual([
      { message: 'a', host: 'h2', attributes: { host: 'h1' } },
      { message: 'b', host: 'h3' },
    ])
  })

  it('keeps a field named __proto__ as a field, not as the prototype of the attributes', () => {
    const [record] = readLogs(JSON.parse('[{"message":"m","__proto__":{"polluted":true}}]'), {}).records as Array<{ attributes: Record<string, unknown> }>
    expect(Object.keys(record!.attributes)).toEqual(['__proto__'])
    expect(Object.getPrototypeOf(record!.attributes)).toBe(Object.prototype)
    expect((record!.attributes as { polluted?: unknown }).polluted).toBeUndefined()
  })

  it('refuses an entry that is not a log object, in its place', () => {
    const { records, errors } = readLogs([{ message: 'ok' }, 'text', null, [1]], {})
    expect(records.map((r) => (r === SKIP ? 'skip' : 'record'))).toEqual(['record', 'skip', 'skip', 'skip'])
    expect(errors.map((e) => [e.index, e.message])).toEqual([
      [1, 'expected a log object, got string'],
      [2, 'expected a log object, got null'],
      [3, 'expected a log object, got an array'],
    ])
  })
})

describe('logs made LogEvents without the validator', () => {
  const d: EventDefaults = { tenant: 't1', source: 'http', observedNs: 1_765_000_000_000_000_000n }
  const withoutId = ({ id: _id, ...event }: Record<string, unknown>) => event

  it('makes what the validator makes of the same record, and leaves to it what it would refuse or read otherwise', () => {
    const text = fc.oneof(fc.constantFrom('ok', ' padded ', 'x'.repeat(300), '\ud800', 'é', ''), fc.string({ maxLength: 6 }))
    const value = fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom({ nested: 'x' }, [1, 2]))
    const log = fc.dictionary(
      fc.oneof(fc.constantFrom('message', 'status', 'level', 'severity', 'service', 'hostname', 'host', 'timestamp', 'date', 'ddsource', 'ddtags', 'msg', 'log', '__proto__', 'attributes', ''), fc.string({ maxLength: 4 })),
      fc.oneof(value, fc.constantFrom('warn', 'WARNING', 'ok', 'E', 1_765_100_000_123, '2026-12-07T10:00:00Z', 4_200_000_000_000, 'env:prod,canary', 'k:' + 'v'.repeat(10))),
      { maxKeys: 8 },
    )
    fc.assert(
      fc.property(fc.array(log, { minLength: 1, maxLength: 4 }), fc.option(fc.constantFrom('team:pay', 'a:1,b'), { nil: undefined }), (logs, ddtags) => {
        const body = JSON.parse(JSON.stringify(logs)) as unknown
        const defaults = { ...(ddtags !== undefined && { ddtags }), timestampMs: 1_765_100_000_000 }
        const plain = readLogs(body, defaults, d)
        const records = readLogs(JSON.parse(JSON.stringify(logs)), defaults).records
        expect(plain.records).toHaveLength(records.length)
        plain.records.forEach((made, i) => {
          if (made instanceof Validated) {
            const validated = validateLogInput(records[i], i, d)
            expect(validated.ok).toBe(true)
            if (validated.ok) expect(withoutId(made.event as unknown as Record<string, unknown>)).toEqual(withoutId(validated.event as unknown as Record<string, unknown>))
          } else expect(made).toEqual(records[i])
        })
      }),
      { numRuns: 500 },
    )
  })

  it('makes the common log, as Vector sends it, without the validator', () => {
    const [made] = readLogs([{ message: 'checkpoint', status: 'warning', service: 'db', hostname: 'db-1', ddsource: 'postgres', ddtags: 'env:prod', timestamp: 1_765_100_000_500, region: 'eu', retries: 2 }], {}, d).records
    expect(made).toBeInstanceOf(Validated)
    expect(withoutId((made as Validated).event as unknown as Record<string, unknown>)).toEqual({
      tenant: 't1',
      timestamp: 1_765_100_000_500_000_000n,
      observed_timestamp: d.observedNs,
      service: 'db',
      host: 'db-1',
      severity_text: 'WARN',
      severity_number: 13,
      message: 'checkpoint',
      trace_id: null,
      span_id: null,
      attributes: { region: 'eu', retries: '2', 'log.level': 'warning' },
      resource: { env: 'prod', ddsource: 'postgres' },
      source: 'http',
    })
  })
})

describe('Datadog intake routes', () => {
  it('stores a gzipped batch on both intake paths and answers 202 {}', async () => {
    const { app, events } = gateway()
    const logs = [
      { message: 'order paid', status: 'info', service: 'shop', hostname: 'web-1', ddsource: 'nodejs', ddtags: 'env:prod', timestamp: 1_765_100_000_250, order: { id: 'o-1' } },
      { message: 'card declined', status: 'error', service: 'shop', hostname: 'web-2' },
    ]
    const res = await send(app, gzipSync(JSON.stringify(logs)), { 'content-encoding': 'gzip', 'dd-api-key': 'ignored-without-auth' })
    expect([res.statusCode, res.json()]).toEqual([202, {}])
    expect((await send(app, { message: 'v1', service: 'legacy' }, {}, '/v1/input')).statusCode).toBe(202)
    const stored = events()
    expect(stored[0]).toMatchObject({ key: 'default/shop', message: 'order paid', severity_text: 'INFO', host: 'web-1', timestamp: '1765100000250000000', resource: { env: 'prod', ddsource: 'nodejs' }, attributes: { 'order.id': 'o-1' } })
    expect(stored[1]).toMatchObject({ message: 'card declined', severity_text: 'ERROR', host: 'web-2' })
    expect(stored[2]).toMatchObject({ message: 'v1', service: 'legacy' })
  })

  it("stores logs without their own time at the Agent's dd-message-timestamp", async () => {
    const { app, events } = gateway()
    const res = await send(app, [{ message: 'from the agent', service: 'a' }], { 'dd-message-timestamp': '1765100000999', 'dd-protocol': 'agent-json' })
    expect(res.statusCode).toBe(202)
    expect(events()[0]).toMatchObject({ message: 'from the agent', timestamp: '1765100000999000000' })
    const bad = await send(app, [{ message: 'x' }], { 'dd-message-timestamp': 'yesterday' })
    expect([bad.statusCode, bad.json()]).toEqual([400, dd(400, 'Bad Request', 'header dd-message-timestamp: expected epoch milliseconds, got "yesterday"')])
  })

  it('stores the good logs of a batch with bad ones, and names each bad one with the field as the client sent it', async () => {
    const { app, events } = gateway()
    const res = await send(app, [{ message: 'good one' }, 'text', { message: 'bad host', hostname: 7 }, { message: 'good two', ddtags: 'k:v' }])
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ ...dd(400, 'Bad Request', 'log 1: expected a log object, got string', expect.stringMatching(/^log 2: hostname: /)), accepted: 2, rejected: 2 })
    expect(events().map((e) => e.message)).toEqual(['good one', 'good two'])
  })

  it('answers a body that is not JSON, an empty one, or not UTF-8 400 in Datadog shape, storing nothing', async () => {
    const { app, events } = gateway()
    const notJson = await send(app, '[{"message":')
    expect(notJson.statusCode).toBe(400)
    expect(notJson.json()).toEqual(dd(400, 'Bad Request', expect.stringMatching(/^invalid JSON body: /)))
    expect((await send(app, '')).json()).toEqual(dd(400, 'Bad Request', 'empty body: send a JSON array of logs'))
    expect((await send(app, Buffer.from([0x5b, 0xff, 0x5d]))).json()).toEqual(dd(400, 'Bad Request', 'the body is not valid UTF-8 (line 1)'))
    expect((await send(app, '[]')).statusCode).toBe(202)
    expect(events()).toEqual([])
  })

  it('takes the body whatever its content type', async () => {
    const { app, events } = gateway()
    expect((await send(app, '[{"message":"plain"}]', { 'content-type': 'text/plain' })).statusCode).toBe(202)
    expect((await app.inject({ method: 'POST', url: '/api/v2/logs', payload: '{"message":"none"}' })).statusCode).toBe(202)
    expect(events().map((e) => e.message)).toEqual(['plain', 'none'])
  })

  it('takes the key from DD-API-KEY with SLUICE_AUTH=true, and validates it as the Agent asks', async () => {
    const { app, events } = gateway({ auth: true })
    expect((await send(app, [{ message: 'keyed', service: 's' }], { 'dd-api-key': 'dd-key' })).statusCode).toBe(202)
    expect(events()).toMatchObject([{ message: 'keyed', tenant: 'acme' }])
    const none = await send(app, [{ message: 'x' }])
    expect(none.statusCode).toBe(401)
    expect(none.json()).toEqual(dd(401, 'Unauthorized', expect.stringMatching(/API key is required/)))
    expect((await send(app, [{ message: 'x' }], { 'dd-api-key': 'wrong' })).json()).toEqual(dd(401, 'Unauthorized', 'invalid API key'))
    const valid = await app.inject({ method: 'GET', url: '/api/v1/validate', headers: { 'dd-api-key': 'dd-key' } })
    expect([valid.statusCode, valid.json()]).toEqual([200, { valid: true }])
    expect((await app.inject({ method: 'GET', url: '/api/v1/validate', headers: { 'dd-api-key': 'wrong' } })).statusCode).toBe(401)
    expect(events()).toHaveLength(1)
  })

  it('answers 503 with Retry-After when Kafka does not acknowledge, and 413 past the limit', async () => {
    const { app, producer } = gateway({ maxBodyBytes: 2000 })
    producer.fail = true
    const down = await send(app, [{ message: 'x' }])
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBeDefined()
    expect(down.json()).toEqual(dd(503, 'Service Unavailable', expect.stringMatching(/Kafka did not acknowledge/)))
    expect((await send(app, [{ message: 'x'.repeat(3000) }])).statusCode).toBe(413)
  })

  it('never answers 5xx to what a client sent', async () => {
    const { app } = gateway()
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.json(), fc.array(fc.dictionary(fc.constantFrom('message', 'status', 'service', 'hostname', 'host', 'timestamp', 'date', 'ddtags', 'ddsource', 'level', 'attributes', 'x'), fc.jsonValue()))), async (body) => {
        const res = await send(app, typeof body === 'string' ? body : JSON.stringify(body))
        expect(res.statusCode).toBeLessThan(500)
      }),
      { numRuns: 300 },
    )
  })
})
