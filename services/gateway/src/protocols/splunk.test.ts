// Splunk HEC at /services/collector/* without a broker: app.inject() against a fake producer and a
// JSON encoder. Asserted is what reaches the producer (the events as Sluice stores them) and what
// a HEC client reads back (status, HEC code, invalid-event-number).
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { validateLogInput } from '@sluice/core'
import { routeGateway } from '../test-fakes.js'
import { SKIP, Validated } from '../ingest.js'
import type { EventDefaults } from '../ingest.js'
import { readEvents, readRaw, splitEvents } from './splunk-hec.js'

const gateway = (opts: { auth?: boolean; checks?: Record<string, () => Promise<void>>; maxBodyBytes?: number } = {}) =>
  routeGateway({ ...opts, ...(opts.auth && { key: { secret: 'hec-token', tenant: 'acme' } }) })
type App = ReturnType<typeof gateway>['app']

const post = (app: App, url: string, payload: string | Buffer, headers: Record<string, string> = {}) => app.inject({ method: 'POST', url, payload, headers })
const hec = (app: App, events: unknown[], headers: Record<string, string> = {}, url = '/services/collector/event') => post(app, url, events.map((e) => JSON.stringify(e)).join(''), headers)

describe('splitEvents', () => {
  it('splits objects back to back, or with white space between, braces and quotes in strings kept', () => {
    const a = '{"event":"a } { \\" {"}'
    const b = '{"event":{"n":{"m":1}}}'
    expect(splitEvents(`${a}${b}`)).toEqual([{ json: a }, { json: b }])
    expect(splitEvents(`\ufeff ${a}\r\n\t${b}\n`)).toEqual([{ json: a }, { json: b }])
  })

  it('reads on past a stray piece at the next {, and keeps an unclosed last object as a bad piece', () => {
    expect(splitEvents('{"event":"a"} oops {"event":"b"}{"event":"c"')).toEqual([{ json: '{"event":"a"}' }, { bad: 'oops ' }, { json: '{"event":"b"}' }, { bad: '{"event":"c"' }])
    expect(splitEvents('[1,2]')).toEqual([{ bad: '[1,2]' }])
    expect(splitEvents('  \n ')).toEqual([])
  })
})

describe('readEvents', () => {
  it('maps the envelope: time, host, source (the service), sourcetype, index, fields', () => {
    const { records, errors } = readEvents(
      JSON.stringify({ time: '1765100000.125', host: 'web-1', source: 'checkout', sourcetype: '_json', index: 'main', event: 'paid', fields: { region: 'eu', n: 3, ok: true, tags: ['a', 'b'], gone: null } }),
      {},
    )
    expect(errors).toEqual([])
    expect(records).toEqual([
      {
        message: 'paid',
        timestamp: 1_765_100_000_125_000_000n,
        host: 'web-1',
        service: 'checkout',
        attributes: { region: 'eu', n: '3', ok: 'true', tags: '["a","b"]' },
        resource: { 'com.splunk.source': 'checkout', 'com.splunk.sourcetype': '_json', 'com.splunk.index': 'main' },
      },
    ])
  })

  it('reads an object event as a /v1/logs record; its message from log or line when it has none, else its JSON', () => {
    const { records } = readEvents(
      [
        { event: { message: 'm', severity: 'warn', service: 'own' }, source: 'src' },
        { event: { log: 'from fluent bit', stream: 'stdout' } },
        { event: { line: 'from docker', tag: 'abc' } },
        { event: { a: 1, b: 'x' } },
        { event: 42 },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
      {},
    )
    expect(records).toEqual([
      { message: 'm', severity: 'warn', service: 'own', resource: { 'com.splunk.source': 'src' } },
      { message: 'from fluent bit', stream: 'stdout' },
      { message: 'from docker', tag: 'abc' },
      { a: 1, b: 'x', message: '{"a":1,"b":"x"}' },
      { message: '42' },
    ])
    // A message that is no string, as Splunk's logging libraries pass on what they were given: its JSON text.
    expect(readEvents('{"event":{"message":{"temperature":"70F","count":500},"severity":"info"}}\n{"event":{"msg":7}}', {}).records).toEqual([
      { message: '{"temperature":"70F","count":500}', severity: 'info' },
      { msg: '7' },
    ])
    // Docker's splunk-format=json: a line that was JSON arrives as its object, and is the record.
    expect(readEvents('{"event":{"line":{"msg":"cart loaded","level":"debug","n":2},"source":"stdout","tag":"web"}}\n{"event":{"line":{"a":1},"tag":"t"}}', {}).records).toEqual([
      { source: 'stdout', tag: 'web', msg: 'cart loaded', level: 'debug', n: 2 },
      { tag: 't', a: 1, message: '{"a":1}' },
    ])
    // A request naming its message field leaves the choice to it.
    expect(readEvents('{"event":{"line":"l","text":"t"}}', {}, true).records).toEqual([{ line: 'l', text: 't' }])
  })

  it("reads the service, level and ids from the indexed fields where the event names none, the service over the source", () => {
    expect(readEvents('{"event":"x","source":"s","fields":{"service.name":"api","otel.log.severity.text":"Warning","trace_id":"t","span_id":"p","k":"v"}}', {}).records).toEqual([
      { message: 'x', service: 'api', level: 'Warning', trace_id: 't', span_id: 'p', attributes: { k: 'v' }, resource: { 'com.splunk.source': 's' } },
    ])
    expect(readEvents('{"event":"x","fields":{"otel.log.severity.number":17}}', {}).records).toEqual([{ message: 'x', level: 17 }])
    expect(readEvents('{"event":"x","fields":{"severity":"error","level":"debug"}}', {}).records).toEqual([{ message: 'x', level: 'debug', attributes: { severity: 'error' } }])
    // The event's own fields come first: the indexed ones stay attributes.
    expect(readEvents('{"event":{"message":"m","service":"own","severity":"info"},"fields":{"service.name":"api","level":"error"}}', {}).records).toEqual([
      { message: 'm', service: 'own', severity: 'info', attributes: { 'service.name': 'api', level: 'error' } },
    ])
  })

  it("fills an event's missing metadata from the request's, never its own", () => {
    const { records } = readEvents('{"event":"a"}{"event":"b","host":"own","index":"idx"}', { host: 'qh', source: 'qs', sourcetype: 'qt', index: 'qi' })
    expect(records).toEqual([
      { message: 'a', host: 'qh', service: 'qs', resource: { 'com.splunk.source': 'qs', 'com.splunk.sourcetype': 'qt', 'com.splunk.index': 'qi' } },
      { message: 'b', host: 'own', service: 'qs', resource: { 'com.splunk.source': 'qs', 'com.splunk.sourcetype': 'qt', 'com.splunk.index': 'idx' } },
    ])
  })

  it('refuses each bad event with its HEC code, field and reason, and reads the rest', () => {
    const { records, errors } = readEvents('{"event":"ok"}{"time":1}{"event":""}{"event":"x","fields":{"o":{"k":1}}}{"event":"x","time":"soon"}{"event":"x","host":7}{"event":"ok2"}{"event":', {})
    expect(records.map((r) => (r === SKIP ? 'skip' : (r as { message: string }).message))).toEqual(['ok', 'skip', 'skip', 'skip', 'skip', 'skip', 'ok2', 'skip'])
    expect(errors).toEqual([
      { index: 1, code: 12, field: 'event', message: 'the event field is required' },
      { index: 2, code: 13, field: 'event', message: 'the event field cannot be blank' },
      { index: 3, code: 15, field: 'fields.o', message: expect.stringMatching(/not an object/) },
      { index: 4, code: 6, field: 'time', message: expect.stringMatching(/expected epoch seconds.*"soon"/) },
      { index: 5, code: 6, field: 'host', message: expect.stringMatching(/expected a string, got 7/) },
      { index: 7, code: 6, field: '', message: expect.stringMatching(/^not a JSON object: "\{\\"event\\":"$/) },
    ])
    expect(readEvents('{"event":"x",}', {}).errors).toEqual([{ index: 0, code: 6, field: '', message: expect.stringMatching(/^invalid JSON: /) }])
  })
  it('reads one event a line until a line is not one, then splits the rest, keeping every index', () => {
    const body = ['{"event":"a"}', '{"event":"b"}', '{"event":"c",}', '{"event":"d"}{"event":"e"}', '{', '  "event": "f"', '}', '{"event":"g"}'].join('\n')
    const { records, errors } = readEvents(body, {})
    expect(records.map((r) => (r === SKIP ? 'skip' : (r as { message: string }).message))).toEqual(['a', 'b', 'skip', 'd', 'e', 'f', 'g'])
    expect(errors).toEqual([{ index: 2, code: 6, field: '', message: expect.stringMatching(/^invalid JSON: /) }])
  })
})

describe('string events made LogEvents without the validator', () => {
  const d: EventDefaults = { tenant: 't1', source: 'http', observedNs: 1_765_000_000_000_000_000n }
  const withoutId = ({ id: _id, ...event }: Record<string, unknown>) => event

  it('makes what the validator makes of the same record, and leaves to it what it would refuse or read otherwise', () => {
    const text = fc.oneof(fc.constantFrom('ok', ' padded ', 'x'.repeat(300), '\ud800', 'é'), fc.string({ maxLength: 8 }))
    const event = fc.record(
      {
        time: fc.constantFrom(1_765_100_000.25, '1765100000.125', 4_000_000_000, '1', 'soon'),
        host: text,
        source: text,
        fields: fc.dictionary(
          fc.oneof(fc.constantFrom('service.name', 'level', 'severity', 'log.level', 'otel.log.severity.text', 'otel.log.severity.number', 'trace_id', 'span_id', '__proto__', ''), fc.string({ maxLength: 4 })),
          fc.oneof(text, fc.constantFrom('warn', 'WARN', 'Warning', 'E', 'loud', '17', '0', 'ABCDEF0123456789ABCDEF0123456789', '0123456789abcdef'), fc.integer({ min: -2, max: 30 }), fc.boolean()),
          { maxKeys: 6 },
        ),
      },
      { requiredKeys: [] },
    )
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 5 }), text, (events, message) => {
        const body = events.map((e) => JSON.stringify({ ...e, event: message || 'm' })).join('\n')
        const plain = readEvents(body, {}, false, d)
        const records = readEvents(body, {}).records
        expect(plain.records).toHaveLength(records.length)
        plain.records.forEach((made, i) => {
          if (records[i] === SKIP) return expect(made).toBe(SKIP)
          const validated = validateLogInput(records[i], i, d)
          if (made instanceof Validated) {
            expect(validated.ok).toBe(true)
            if (validated.ok) expect(withoutId(made.event as unknown as Record<string, unknown>)).toEqual(withoutId(validated.event as unknown as Record<string, unknown>))
          } else expect(made).toEqual(records[i])
        })
      }),
      { numRuns: 500 },
    )
  })

  it('makes the common event, as the OpenTelemetry Collector sends it, without the validator', () => {
    const body = JSON.stringify({ time: 1_765_100_000.5, host: 'db-1', source: 'postgres', sourcetype: 'otel', event: 'checkpoint complete', fields: { 'otel.log.severity.text': 'INFO', 'otel.log.severity.number': 9, region: 'eu' } })
    const [made] = readEvents(body, {}, false, d).records
    expect(made).toBeInstanceOf(Validated)
    expect(withoutId((made as Validated).event as unknown as Record<string, unknown>)).toEqual({
      tenant: 't1',
      timestamp: 1_765_100_000_500_000_000n,
      observed_timestamp: d.observedNs,
      service: 'postgres',
      host: 'db-1',
      severity_text: 'INFO',
      severity_number: 9,
      message: 'checkpoint complete',
      trace_id: null,
      span_id: null,
      attributes: { region: 'eu', 'otel.log.severity.number': '9' },
      resource: { 'com.splunk.source': 'postgres', 'com.splunk.sourcetype': 'otel' },
      source: 'http',
    })
  })
})

describe('readRaw', () => {
  it("makes each non-blank line an event with the request's metadata, CRLF or LF", () => {
    expect(readRaw('GET / 200\r\n\r\n  \nGET /x 404\n', { host: 'w', source: 'nginx', sourcetype: 'access_combined' })).toEqual({
      records: [
        { host: 'w', service: 'nginx', resource: { 'com.splunk.source': 'nginx', 'com.splunk.sourcetype': 'access_combined' }, message: 'GET / 200' },
        { host: 'w', service: 'nginx', resource: { 'com.splunk.source': 'nginx', 'com.splunk.sourcetype': 'access_combined' }, message: 'GET /x 404' },
      ],
      errors: [],
    })
  })
})

describe('Splunk HEC routes', () => {
  it('stores concatenated events sent to every event path and answers Success', async () => {
    const { app, events } = gateway()
    for (const url of ['/services/collector', '/services/collector/event', '/services/collector/event/1.0']) {
      const res = await hec(app, [{ event: `to ${url}`, source: 'shop', time: 1_765_100_000.5 }], { 'content-type': 'application/json' }, url)
      expect(res.statusCode).toBe(200)
      expect(res.json()).toEqual({ text: 'Success', code: 0 })
    }
    const stored = events()
    expect(stored.map((e) => [e.message, e.service, e.key, e.source, e.timestamp])).toEqual(
      ['/services/collector', '/services/collector/event', '/services/collector/event/1.0'].map((u) => [`to ${u}`, 'shop', 'default/shop', 'http', '1765100000500000000']),
    )
  })

  it('stores the level an indexed field names, as the OpenTelemetry Collector sends it', async () => {
    const { app, events } = gateway()
    const res = await hec(app, [{ event: 'disk almost full', host: 'db-1', source: 'postgres', fields: { 'otel.log.severity.text': 'WARN', 'otel.log.severity.number': 13, region: 'eu' } }])
    expect(res.statusCode).toBe(200)
    expect(events()[0]).toMatchObject({ message: 'disk almost full', severity_text: 'WARN', severity_number: 13, service: 'postgres', host: 'db-1', attributes: { 'otel.log.severity.number': '13', region: 'eu' } })
  })

  it('reads the level of an object event and its other fields as attributes', async () => {
    const { app, events } = gateway()
    const res = await hec(app, [{ event: { message: 'card declined', severity: 'error', order: { id: 'o-1' } }, source: 'payments' }])
    expect(res.statusCode).toBe(200)
    expect(events()[0]).toMatchObject({ message: 'card declined', severity_text: 'ERROR', service: 'payments', attributes: { 'order.id': 'o-1' }, resource: { 'com.splunk.source': 'payments' } })
    // As Docker's splunk driver sends a JSON line (splunk-format=json).
    const docker = await hec(app, [{ event: { line: { msg: 'cart loaded', level: 'debug', items: 2 }, source: 'stdout', tag: 'web' }, source: 'shop', host: 'docker-1' }], {}, '/services/collector/event/1.0')
    expect(docker.statusCode).toBe(200)
    expect(events()[1]).toMatchObject({ message: 'cart loaded', severity_text: 'DEBUG', service: 'shop', host: 'docker-1', attributes: { source: 'stdout', tag: 'web', items: '2' } })
  })

  it('stores the good events of a request with bad ones, and names the first bad one as HEC does', async () => {
    const { app, events } = gateway()
    const res = await post(app, '/services/collector/event', '{"event":"one"}{"event":"two","time":"noon"}{"sourcetype":"x"}{"event":"three"}')
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({
      text: 'Invalid data format: event 1: time: expected epoch seconds (e.g. 1765100000.123, a number or a string), got "noon"',
      code: 6,
      'invalid-event-number': 1,
      accepted: 2,
      rejected: 2,
      errors: [
        { index: 1, field: 'time', message: expect.any(String) },
        { index: 2, field: 'event', message: 'the event field is required' },
      ],
    })
    expect(events().map((e) => e.message)).toEqual(['one', 'three'])
  })

  it("answers a record the validator refuses in HEC's shape, with the validator's reason", async () => {
    const { app, events } = gateway()
    const res = await hec(app, [{ event: 'fine' }, { event: { message: 'bad level', level: 'loud' } }])
    expect(res.statusCode).toBe(400)
    expect(res.json()).toMatchObject({ code: 6, 'invalid-event-number': 1, accepted: 1, rejected: 1, errors: [{ index: 1, field: 'level', message: expect.stringMatching(/unknown level "loud"/) }] })
    expect(events().map((e) => e.message)).toEqual(['fine'])
  })

  it('answers No data to an empty body or one of white space', async () => {
    const { app } = gateway()
    for (const body of ['', ' \n ']) {
      const res = await post(app, '/services/collector/event', body)
      expect(res.statusCode).toBe(400)
      expect(res.json()).toEqual({ text: 'No data', code: 5 })
    }
  })

  it('takes a body of any content type, or none, and gzip', async () => {
    const { app, events } = gateway()
    expect((await post(app, '/services/collector/event', '{"event":"plain"}', { 'content-type': 'text/plain' })).statusCode).toBe(200)
    expect((await post(app, '/services/collector/event', '{"event":"form"}', { 'content-type': 'application/x-www-form-urlencoded' })).statusCode).toBe(200)
    expect((await post(app, '/services/collector/event', '{"event":"none"}')).statusCode).toBe(200)
    expect((await post(app, '/services/collector/event', gzipSync('{"event":"gz"}'), { 'content-encoding': 'gzip' })).statusCode).toBe(200)
    expect(events().map((e) => e.message)).toEqual(['plain', 'form', 'none', 'gz'])
  })

  it('refuses an event body that is not UTF-8 whole, and a raw line that is not, alone', async () => {
    const { app, events } = gateway()
    const bad = Buffer.concat([Buffer.from('{"event":"a'), Buffer.from([0xff]), Buffer.from('"}')])
    const res = await post(app, '/services/collector/event', bad)
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ text: 'Invalid data format: the body is not valid UTF-8 (line 1)', code: 6 })
    const raw = await post(app, '/services/collector/raw', Buffer.concat([Buffer.from('good\nba'), Buffer.from([0xc3]), Buffer.from('d\nalso good')]))
    expect(raw.statusCode).toBe(400)
    expect(raw.json()).toMatchObject({ code: 6, 'invalid-event-number': 1, errors: [{ index: 1, message: 'line 2 is not valid UTF-8' }] })
    expect(events().map((e) => e.message)).toEqual(['good', 'also good'])
  })

  it("stores raw lines with the query string's metadata, on both raw paths", async () => {
    const { app, events } = gateway()
    const res = await post(app, '/services/collector/raw?host=lb-1&source=haproxy&sourcetype=haproxy:http&index=edge&channel=0aeeac95-ac74-4aa9-b30d-6c4c0ac581ba', 'first\r\nsecond\n')
    expect(res.statusCode).toBe(200)
    expect((await post(app, '/services/collector/raw/1.0', 'third')).json()).toEqual({ text: 'Success', code: 0 })
    expect(events().map((e) => [e.message, e.service, e.host, e.resource])).toEqual([
      ['first', 'haproxy', 'lb-1', { 'com.splunk.source': 'haproxy', 'com.splunk.sourcetype': 'haproxy:http', 'com.splunk.index': 'edge' }],
      ['second', 'haproxy', 'lb-1', { 'com.splunk.source': 'haproxy', 'com.splunk.sourcetype': 'haproxy:http', 'com.splunk.index': 'edge' }],
      ['third', 'unknown', null, {}],
    ])
  })

  it("applies the request's field mapping to object events", async () => {
    const { app, events } = gateway()
    expect((await post(app, '/services/collector/event?_msg_field=text&_level_field=lvl', '{"event":{"text":"mapped","lvl":"warn","line":"kept"}}')).statusCode).toBe(200)
    expect(events()[0]).toMatchObject({ message: 'mapped', severity_text: 'WARN', attributes: { line: 'kept' } })
  })

  it('takes the tenant from X-Scope-OrgID', async () => {
    const { app, events } = gateway()
    expect((await hec(app, [{ event: 'x', source: 's' }], { 'x-scope-orgid': 'team-a' })).statusCode).toBe(200)
    expect(events()[0]).toMatchObject({ tenant: 'team-a', key: 'team-a/s' })
  })

  it('answers a query parameter given twice with a 400 in HEC shape', async () => {
    const { app, events } = gateway()
    const res = await post(app, '/services/collector/event?source=a&source=b', '{"event":"x"}')
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ text: expect.stringMatching(/^Invalid data format: .*source/), code: 6 })
    expect(events()).toEqual([])
  })

  it('answers health from the readiness checks, and that acknowledgements are off', async () => {
    const healthy = gateway()
    for (const url of ['/services/collector/health', '/services/collector/health/1.0']) {
      const res = await healthy.app.inject({ method: 'GET', url })
      expect([res.statusCode, res.json()]).toEqual([200, { text: 'HEC is healthy', code: 17 }])
    }
    const down = gateway({ checks: { kafka: () => Promise.reject(new Error('no broker')) } })
    const res = await down.app.inject({ method: 'GET', url: '/services/collector/health' })
    expect(res.statusCode).toBe(503)
    expect(res.json()).toEqual({ text: 'HEC is unhealthy: kafka: no broker', code: 18 })
    // Docker's splunk driver asks OPTIONS of its URL before it starts a container.
    const options = await healthy.app.inject({ method: 'OPTIONS', url: '/services/collector/event/1.0' })
    expect([options.statusCode, options.headers.allow]).toEqual([200, 'POST, OPTIONS'])
    const ack = await post(healthy.app, '/services/collector/ack', '{"acks":[0]}')
    expect(ack.statusCode).toBe(400)
    expect(ack.json()).toMatchObject({ code: 14, text: expect.stringMatching(/^ACK is disabled/) })
  })

  it('answers Server is busy with Retry-After when Kafka does not acknowledge, storing nothing', async () => {
    const { app, producer, events } = gateway()
    producer.fail = true
    const res = await hec(app, [{ event: 'x' }])
    expect(res.statusCode).toBe(503)
    expect(res.headers['retry-after']).toBeDefined()
    expect(res.json()).toEqual({ text: expect.stringMatching(/^Server is busy: Kafka did not acknowledge/), code: 9 })
    expect(events()).toEqual([])
  })

  it('answers a body over the limit 413, in HEC shape', async () => {
    const { app } = gateway({ maxBodyBytes: 1000 })
    const res = await hec(app, [{ event: 'x'.repeat(2000) }])
    expect(res.statusCode).toBe(413)
    expect(res.json()).toMatchObject({ code: 413 })
  })

  it('takes the HEC token as the key with SLUICE_AUTH=true, and answers a missing or unknown one with HEC codes', async () => {
    const { app, events } = gateway({ auth: true })
    const ok = await hec(app, [{ event: 'authorised', source: 's' }], { authorization: 'Splunk hec-token' })
    expect([ok.statusCode, ok.json()]).toEqual([200, { text: 'Success', code: 0 }])
    expect(events()).toMatchObject([{ message: 'authorised', tenant: 'acme' }])
    const none = await hec(app, [{ event: 'x' }])
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toBeDefined()
    expect(none.json()).toEqual({ text: expect.stringMatching(/^Token is required: /), code: 2 })
    const wrong = await hec(app, [{ event: 'x' }], { authorization: 'Splunk nope' })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json()).toEqual({ text: expect.stringMatching(/^Invalid token: /), code: 4 })
    // The health check stays open, as load balancers probe it without a token.
    expect((await app.inject({ method: 'GET', url: '/services/collector/health' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'OPTIONS', url: '/services/collector/event/1.0' })).statusCode).toBe(200)
    expect((await post(app, '/services/collector/ack', '{"acks":[0]}')).statusCode).toBe(401)
    const otherTenant = await hec(app, [{ event: 'x' }], { authorization: 'Splunk hec-token', 'x-scope-orgid': 'beta' })
    expect(otherTenant.statusCode).toBe(403)
    expect(otherTenant.json()).toMatchObject({ code: 4 })
    expect(events()).toHaveLength(1)
  })

  it('never answers 5xx to what a client sent, and stores every well-formed event of a damaged body', async () => {
    const { app, producer } = gateway()
    const good = Array.from({ length: 6 }, (_, i) => JSON.stringify({ event: `e${i}`, source: 'fuzz', fields: { i } })).join('')
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ at: fc.nat(), text: fc.string({ maxLength: 3 }) }), { minLength: 1, maxLength: 3 }), async (edits) => {
        let body = good
        for (const e of edits) {
          const at = e.at % (body.length + 1)
          body = body.slice(0, at) + e.text + body.slice(at + 1)
        }
        producer.sent.length = 0
        const res = await post(app, '/services/collector/event', body)
        expect(res.statusCode).toBeLessThan(500)
        // Whatever is well-formed on its own, after the damage, is stored.
        const expected = readEvents(body, {}).records.filter((r) => r !== SKIP).length
        const stored = producer.sent.reduce((n, s) => n + s.messages.length, 0)
        if (res.statusCode === 200) expect(stored).toBe(expected)
        else expect(stored).toBeLessThanOrEqual(expected)
      }),
      { numRuns: 300 },
    )
  })
})
