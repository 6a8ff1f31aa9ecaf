// The CloudWatch Logs provider running the real @aws-sdk/client-cloudwatch-logs (SigV4, AWS JSON
// 1.1) against the fake in test/fakes/aws-cloudwatch.ts: settings, the mapping of every field,
// windows, pages, and each failure the framework tells apart.
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import { startFakeCloudWatchLogs } from '../../../../test/fakes/aws-cloudwatch.js'
import { readAll } from '../../../../test/fakes/pages.js'
import type { FakeCloudWatchLogs, FakeCloudWatchLogsOptions } from '../../../../test/fakes/aws-cloudwatch.js'
import { ProviderError } from '../provider.js'
import type { FetchRequest, ProviderClient } from '../provider.js'
import { awsCloudWatch, parseRetryAfter, serviceOf } from './aws-cloudwatch.js'
import type { AwsCloudWatchSettings } from './aws-cloudwatch.js'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0)
const MIN = 60_000

async function setup(
  overrides: Partial<AwsCloudWatchSettings> = {},
  opts: FakeCloudWatchLogsOptions = {},
): Promise<{ fake: FakeCloudWatchLogs; client: ProviderClient; settings: AwsCloudWatchSettings }> {
  const fake = await startFakeCloudWatchLogs(opts)
  const settings = awsCloudWatch.settingsSchema.parse(fake.settings(overrides))
  const client = awsCloudWatch.connect(settings)
  onTestFinished(() => client.close())
  return { fake, client, settings }
}

const req = (over: Partial<FetchRequest> = {}): FetchRequest => ({ fromMs: T0 - 10 * MIN, toMs: T0 + 10 * MIN, limit: 100, signal: new AbortController().signal, ...over })

async function failure(p: Promise<unknown>, settings?: AwsCloudWatchSettings): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ProviderError)
  const e = err as ProviderError
  // Never a secret in what the framework stores and shows.
  if (settings) expect(e.message).not.toContain(settings.secretAccessKey)
  if (settings?.sessionToken) expect(e.message).not.toContain(settings.sessionToken)
  expect(e.message).not.toMatch(/Signature=[0-9a-f]/)
  return e
}

const filterBodies = (fake: FakeCloudWatchLogs) => fake.calls.filter((c) => c.operation === 'FilterLogEvents').map((c) => c.body as Record<string, unknown>)
const ns = (ms: number) => (BigInt(ms) * 1_000_000n).toString()

describe('settings', () => {
  it('takes a region, a log group and a static key, and names the secret and the session token as secrets', () => {
    const parsed = awsCloudWatch.settingsSchema.parse({
      region: 'eu-west-1',
      logGroupName: '/aws/lambda/checkout',
      accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    })
    expect(parsed).toEqual({ region: 'eu-west-1', logGroupName: '/aws/lambda/checkout', accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' })
    const full = {
      ...parsed,
      logStreamNamePrefix: '2026/12/01/',
      filterPattern: '{ $.level = "error" }',
      sessionToken: 'FwoGZXIvYXdzEBYaDExample',
      service: 'checkout-api',
      endpoint: 'https://vpce-0123-abcd.logs.eu-west-1.vpce.amazonaws.com',
    }
    expect(awsCloudWatch.settingsSchema.parse(full)).toEqual(full)
    expect(awsCloudWatch.kind).toBe('aws-cloudwatch')
    expect(awsCloudWatch.secretFields).toEqual(['secretAccessKey', 'sessionToken'])
  })

  it('refuses unknown fields, bad regions, group names, key ids, stream prefixes and endpoints with a path — without echoing the secret', async () => {
    const fake = await startFakeCloudWatchLogs()
    const good = fake.settings()
    const issues = (s: unknown) => {
      const r = awsCloudWatch.settingsSchema.safeParse(s)
      expect(r.success).toBe(false)
      const text = JSON.stringify(r.error?.issues)
      expect(text).not.toContain(good.secretAccessKey)
      return text
    }
    expect(issues({ ...good, logGroupNames: ['/a', '/b'] })).toContain('logGroupNames')
    expect(issues({ ...good, region: 'Europe' })).toContain('AWS region')
    expect(issues({ ...good, logGroupName: '/aws/lambda/check out' })).toContain('log group name')
    expect(issues({ ...good, logGroupName: '' })).toContain('log group name')
    expect(issues({ ...good, accessKeyId: 'AKIA/123' })).toContain('access key id')
    expect(issues({ ...good, logStreamNamePrefix: 'app*' })).toContain('logStreamNamePrefix')
    expect(issues({ ...good, endpoint: 'https://logs.example.com/api' })).toContain('no path')
    expect(issues({ ...good, endpoint: 'ftp://logs.example.com' })).toContain('http(s)')
    expect(issues({ ...good, secretAccessKey: '' })).toContain('secretAccessKey')
    const { secretAccessKey: _secret, ...noSecret } = good
    expect(issues(noSecret)).toContain('secretAccessKey')
  })

  it('takes the service from the log group: its last path segment', () => {
    expect(serviceOf('/aws/lambda/checkout')).toBe('checkout')
    expect(serviceOf('/ecs/payments-api')).toBe('payments-api')
    expect(serviceOf('/aws/containerinsights/prod/application/')).toBe('application')
    expect(serviceOf('nginx-access')).toBe('nginx-access')
    expect(serviceOf('/')).toBe('/')
  })
})

describe('mapping', () => {
  it('maps every field of an event, to the nanosecond', async () => {
    const { fake, client } = await setup({}, { region: 'eu-central-1', logGroups: ['/ecs/payments-api'] })
    fake.add({ timestamp: T0 + 123, message: 'GET /health 200 3ms\n', logStreamName: 'ecs/payments/4f1c0a9e', ingestionTime: T0 + 900, eventId: '37512841734261748574367182340234876235092345678901234567' })
    const page = await client.fetchPage(req())
    expect(page).toEqual({
      nextPageToken: undefined,
      events: [
        {
          providerId: '37512841734261748574367182340234876235092345678901234567',
          timeMs: T0 + 123,
          record: {
            timestamp: ns(T0 + 123),
            service: 'payments-api',
            message: 'GET /health 200 3ms',
            attributes: { 'aws.log.group': '/ecs/payments-api', 'aws.log.stream': 'ecs/payments/4f1c0a9e' },
            resource: { 'cloud.provider': 'aws', 'cloud.region': 'eu-central-1', 'aws.log.group.names': '/ecs/payments-api' },
          },
        },
      ],
    })
  })

  it('takes the service from the setting when given', async () => {
    const { fake, client } = await setup({ service: 'billing' })
    fake.add({ timestamp: T0, message: 'x' })
    const page = await client.fetchPage(req())
    expect(page.events[0]?.record.service).toBe('billing')
  })

  it('reads a JSON message for its level, message, trace context and fields', async () => {
    const { fake, client } = await setup()
    const lines: Array<[string, Record<string, unknown>]> = [
      ['powertools', { level: 'ERROR', message: 'payment declined', service: 'checkout', xray_trace_id: '1-5759e988-bd862e3fe1be46a994272793', cold_start: false, order: { id: 'o-42' } }],
      ['pino', { level: 50, time: 1764590400000, pid: 7, msg: 'db down', trace_id: '4BF92F3577B34DA6A3CE929D0E0E4736', span_id: '00F067AA0BA902B7' }],
      ['pino-trace', { level: 10, msg: 'deep' }],
      ['no-message', { level: 'warning', code: 503 }],
      ['unknown-level', { level: 'loud', message: 'hi' }],
      ['bad-ids', { level: 'info', message: 'ids', traceId: 'not-hex', spanId: '0000000000000000' }],
      ['zero-trace', { message: 'z', trace_id: '00000000000000000000000000000000', spanId: 'A1B2C3D4E5F60718' }],
    ]
    lines.forEach(([, body], i) => fake.add({ timestamp: T0 + i, message: `${JSON.stringify(body)}\n` }))
    fake.add({ timestamp: T0 + 10, message: '{not json' }, { timestamp: T0 + 11, message: '["an","array"]' })
    const { events } = await readAll(client, req())
    const records = events.map((e) => e.record)
    const group = { 'aws.log.group': fake.logGroupName, 'aws.log.stream': 'app' }
    expect(records[0]).toMatchObject({
      message: 'payment declined',
      level: 'error',
      trace_id: '5759e988bd862e3fe1be46a994272793',
      attributes: { ...group, service: 'checkout', cold_start: 'false', order: '{"id":"o-42"}' },
    })
    expect(records[0]?.span_id).toBeUndefined()
    expect(records[1]).toMatchObject({ message: 'db down', level: 'error', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7', attributes: { ...group, time: '1764590400000', pid: '7' } })
    expect(records[2]).toMatchObject({ message: 'deep', level: 'trace' })
    // No message field: the JSON stays whole, its level still read.
    expect(records[3]).toMatchObject({ message: '{"level":"warning","code":503}', level: 'warn', attributes: group })
    // An unknown level is no level, and stays among the fields.
    expect(records[4]).toMatchObject({ message: 'hi', attributes: { ...group, level: 'loud' } })
    expect(records[4]?.level).toBeUndefined()
    expect(records[5]).toMatchObject({ message: 'ids', level: 'info', attributes: group })
    expect(records[5]?.trace_id).toBeUndefined()
    expect(records[5]?.span_id).toBeUndefined()
    expect(records[6]).toMatchObject({ message: 'z', span_id: 'a1b2c3d4e5f60718' })
    expect(records[6]?.trace_id).toBeUndefined()
    expect(records.slice(7).map((r) => [r.message, r.level])).toEqual([
      ['{not json', undefined],
      ['["an","array"]', undefined],
    ])
  })

  it('reads the level of Lambda runtime text lines, leaving the message as it is', async () => {
    const { fake, client } = await setup()
    const lines = [
      '2026-12-01T12:00:00.123Z\t6bc28136-xmpl-4365-b021-0ce6b2e64ab0\tERROR\tInvoke Error \t{"errorType":"Error"}\n',
      '2026-12-01T12:00:00.124Z\tundefined\tWARN\tcold\n',
      '[WARNING]\t2026-12-01T12:00:00.125Z\t6bc28136-xmpl-4365-b021-0ce6b2e64ab0\tretrying\n',
      '[CRITICAL]\t2026-12-01T12:00:00.126Z\t6bc28136-xmpl-4365-b021-0ce6b2e64ab0\tgone\n',
      'START RequestId: 6bc28136-xmpl-4365-b021-0ce6b2e64ab0 Version: $LATEST\n',
    ]
    lines.forEach((message, i) => fake.add({ timestamp: T0 + i, message }))
    const { events } = await readAll(client, req())
    expect(events.map((e) => [e.record.message, e.record.level])).toEqual([
      [lines[0]?.trimEnd(), 'error'],
      [lines[1]?.trimEnd(), 'warn'],
      [lines[2]?.trimEnd(), 'warn'],
      [lines[3]?.trimEnd(), 'fatal'],
      [lines[4]?.trimEnd(), undefined],
    ])
  })

  it('leaves out, with a reason each, an event whose time is not epoch ms or whose message is not text, and maps the rest of the page', async () => {
    const { fake, client } = await setup()
    const odd = (e: { timestamp: unknown; message: unknown; eventId: string }) => e as unknown as Parameters<typeof fake.add>[0]
    fake.add(
      { timestamp: T0 + 1, message: 'fine', eventId: 'ok' },
      odd({ timestamp: T0 + 2, message: 5, eventId: 'number-message' }),
      odd({ timestamp: T0 + 3.5, message: 'fractional ms', eventId: 'float-time' }),
      odd({ timestamp: String(T0 + 4), message: 'time as text', eventId: 'string-time' }),
    )
    const page = await client.fetchPage(req())
    expect(page.events.map((e) => e.providerId)).toEqual(['ok'])
    expect(page.skipped?.map((s) => [s.providerId, s.reason])).toEqual([
      ['number-message', 'unmappable'],
      ['float-time', 'bad_timestamp'],
      ['string-time', 'bad_timestamp'],
    ])
  })

  it('gives the same provider ids and records when an event is read again', async () => {
    const { fake, client } = await setup()
    for (let i = 0; i < 5; i++) fake.add({ timestamp: T0 + i, message: `m${i}` })
    const first = await readAll(client, req())
    const again = await readAll(client, req({ fromMs: T0 + 2 }))
    expect(new Set(first.events.map((e) => e.providerId)).size).toBe(5)
    expect(again.events).toEqual(first.events.slice(2))
    expect(first.events.every((e) => /^\d{56}$/.test(e.providerId))).toBe(true)
  })
})

describe('windows', () => {
  it('asks FilterLogEvents for [from, to − 1] (AWS ends inclusive) and returns only [from, to), oldest first', async () => {
    const { fake, client } = await setup({ logStreamNamePrefix: 'web-', filterPattern: 'GET' })
    const from = T0
    const to = T0 + MIN
    fake.add(
      { timestamp: to, message: 'GET at to', logStreamName: 'web-1' },
      { timestamp: from - 1, message: 'GET before', logStreamName: 'web-1' },
      { timestamp: to - 1, message: 'GET last', logStreamName: 'web-2' },
      { timestamp: from, message: 'GET first', logStreamName: 'web-1' },
      { timestamp: from + 5, message: 'POST middle', logStreamName: 'web-1' },
      { timestamp: from + 6, message: 'GET worker', logStreamName: 'worker-1' },
    )
    const page = await client.fetchPage(req({ fromMs: from, toMs: to, limit: 500 }))
    expect(page.events.map((e) => [e.timeMs, e.record.message])).toEqual([
      [from, 'GET first'],
      [to - 1, 'GET last'],
    ])
    expect(filterBodies(fake)).toEqual([{ logGroupName: fake.logGroupName, logStreamNamePrefix: 'web-', filterPattern: 'GET', startTime: from, endTime: to - 1, limit: 500 }])
    // Neither the deprecated `interleaved` nor a direction: AWS's defaults, oldest first.
    expect(filterBodies(fake)[0]).not.toHaveProperty('interleaved')
  })

  it('answers an empty window without calling AWS', async () => {
    const { fake, client } = await setup()
    fake.add({ timestamp: T0, message: 'x' })
    expect(await client.fetchPage(req({ fromMs: T0, toMs: T0 }))).toEqual({ events: [] })
    expect(fake.calls).toHaveLength(0)
  })

  it('keeps the limit within 1..10000, the most FilterLogEvents takes', async () => {
    const { fake, client } = await setup()
    await client.fetchPage(req({ limit: 50_000 }))
    await client.fetchPage(req({ limit: 0 }))
    expect(filterBodies(fake).map((b) => b.limit)).toEqual([10_000, 1])
  })
})

describe('pages', () => {
  it('pages through a window with the opaque nextToken, with no loss and no duplicate', async () => {
    const { fake, client } = await setup()
    // Out of order, and several in one millisecond across page boundaries.
    const times = Array.from({ length: 25 }, (_, i) => T0 + Math.floor(i / 3) * 1000)
    for (const t of [...times].reverse()) fake.add({ timestamp: t, message: `at ${t}`, logStreamName: `s${t % 7}` })
    const { pages, events } = await readAll(client, req({ limit: 10 }))
    expect(pages.map((p) => p.events.length)).toEqual([10, 10, 5])
    expect(pages.slice(0, 2).every((p) => typeof p.nextPageToken === 'string' && p.nextPageToken.length > 0)).toBe(true)
    expect(pages[2]?.nextPageToken).toBeUndefined()
    expect(new Set(events.map((e) => e.providerId)).size).toBe(25)
    expect(events.map((e) => e.timeMs)).toEqual([...times].sort((a, b) => a - b))
    // The token goes back to AWS as it came, with the same parameters.
    const bodies = filterBodies(fake)
    expect(bodies.map((b) => b.nextToken)).toEqual([undefined, pages[0]?.nextPageToken, pages[1]?.nextPageToken])
    expect(new Set(bodies.map((b) => JSON.stringify({ ...b, nextToken: undefined }))).size).toBe(1)
    expect(fake.served()).toBe(3)
  })

  it('passes on an empty page that still carries a nextToken, as AWS answers while it searches', async () => {
    const { fake, client } = await setup()
    for (let i = 0; i < 4; i++) fake.add({ timestamp: T0 + i, message: `m${i}` })
    fake.emptyNext(2)
    const { pages, events } = await readAll(client, req({ limit: 3 }))
    expect(pages.map((p) => [p.events.length, p.nextPageToken !== undefined])).toEqual([
      [0, true],
      [0, true],
      [3, true],
      [1, false],
    ])
    expect(events.map((e) => e.record.message)).toEqual(['m0', 'm1', 'm2', 'm3'])
  })

  it('sees events that arrive late when the window is read again', async () => {
    const { fake, client } = await setup()
    fake.add({ timestamp: T0 + 10, message: 'on time' })
    const first = await readAll(client, req())
    fake.add({ timestamp: T0 + 5, message: 'late' })
    const second = await readAll(client, req())
    expect(first.events.map((e) => e.record.message)).toEqual(['on time'])
    expect(second.events.map((e) => e.record.message)).toEqual(['late', 'on time'])
    expect(second.events[1]?.providerId).toBe(first.events[0]?.providerId)
  })
})

describe('errors', () => {
  it('reports throttling with no hint, as AWS sends none, after a single attempt', async () => {
    const { fake, client, settings } = await setup()
    fake.throttleNext(1)
    const e = await failure(client.fetchPage(req()), settings)
    expect(e).toMatchObject({ kind: 'throttled', code: 'ThrottlingException', retryAfterMs: undefined })
    expect(e.message).toContain('Rate exceeded')
    // maxAttempts 1: the SDK does not retry behind the poller's back.
    expect(fake.calls).toHaveLength(1)
    expect(fake.calls[0]?.headers['amz-sdk-request']).toBe('attempt=1; max=1')
    expect((await client.fetchPage(req())).events).toEqual([])
  })

  it('honours a Retry-After hint when one is sent (a proxy in front of AWS)', async () => {
    const { fake, client } = await setup()
    fake.throttleNext(1, 7)
    expect(await failure(client.fetchPage(req()))).toMatchObject({ kind: 'throttled', code: 'ThrottlingException', retryAfterMs: 7000 })
    expect(parseRetryAfter('12')).toBe(12_000)
    expect(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })

  it('reports an unknown key id or a wrong secret as auth, without the secret', async () => {
    const unknown = await setup({ accessKeyId: 'AKIAUNKNOWNKEY000000' })
    const e1 = await failure(unknown.client.fetchPage(req()), unknown.settings)
    expect(e1).toMatchObject({ kind: 'auth', code: 'UnrecognizedClientException' })
    expect(e1.message).toContain('The security token included in the request is invalid.')

    const wrong = await setup({ secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEY00' })
    const e2 = await failure(wrong.client.fetchPage(req()), wrong.settings)
    expect(e2).toMatchObject({ kind: 'auth', code: 'InvalidSignatureException' })
    expect(wrong.fake.calls[0]?.errorType).toBe('InvalidSignatureException')
  })

  it('signs temporary credentials with their session token, and reports a bad or expired one as auth', async () => {
    const fake = await startFakeCloudWatchLogs()
    const temp = fake.addKey({ temporary: true })
    const settings = awsCloudWatch.settingsSchema.parse(fake.settings({ accessKeyId: temp.accessKeyId, secretAccessKey: temp.secretAccessKey, sessionToken: temp.sessionToken }))
    const client = awsCloudWatch.connect(settings)
    onTestFinished(() => client.close())
    await client.fetchPage(req())
    expect(fake.calls[0]?.auth).toMatchObject({ accessKeyId: temp.accessKeyId, sessionToken: true })
    expect(fake.calls[0]?.auth?.signedHeaders).toContain('x-amz-security-token')

    const forged = awsCloudWatch.connect({ ...settings, sessionToken: 'IQoJb3JpZ2luX2VjForged' })
    onTestFinished(() => forged.close())
    expect(await failure(forged.fetchPage(req()), { ...settings, sessionToken: 'IQoJb3JpZ2luX2VjForged' })).toMatchObject({ kind: 'auth', code: 'UnrecognizedClientException' })

    fake.expire(temp.accessKeyId)
    const e = await failure(client.fetchPage(req()), settings)
    expect(e).toMatchObject({ kind: 'auth', code: 'ExpiredTokenException' })
  })

  it('reports a key without logs:FilterLogEvents as auth', async () => {
    const fake = await startFakeCloudWatchLogs()
    const denied = fake.addKey({ denied: ['FilterLogEvents'] })
    const client = awsCloudWatch.connect(awsCloudWatch.settingsSchema.parse(fake.settings({ accessKeyId: denied.accessKeyId, secretAccessKey: denied.secretAccessKey })))
    onTestFinished(() => client.close())
    const e = await failure(client.test(new AbortController().signal))
    expect(e).toMatchObject({ kind: 'auth', code: 'AccessDeniedException' })
    expect(e.message).toContain('not authorized to perform: logs:FilterLogEvents')
  })

  it('reports a log group that does not exist, or a filter pattern AWS refuses, as bad_request', async () => {
    const missing = await setup({ logGroupName: '/aws/lambda/nope' })
    const e1 = await failure(missing.client.fetchPage(req()))
    expect(e1).toMatchObject({ kind: 'bad_request', code: 'ResourceNotFoundException' })
    expect(e1.message).toContain('The specified log group does not exist.')
    expect(await failure(missing.client.test(new AbortController().signal))).toMatchObject({ kind: 'bad_request', code: 'ResourceNotFoundException' })

    const badPattern = await setup({ filterPattern: '{ $.level = ' })
    expect(await failure(badPattern.client.test(new AbortController().signal))).toMatchObject({ kind: 'bad_request', code: 'InvalidParameterException' })
  })

  it('reports an outage — 503, a load balancer page, a refused connection — as unavailable', async () => {
    const { fake, client, settings } = await setup()
    fake.failNext(1, 503)
    expect(await failure(client.fetchPage(req()), settings)).toMatchObject({ kind: 'unavailable', code: 'ServiceUnavailableException' })
    fake.failNext(1, 502)
    const e = await failure(client.fetchPage(req()), settings)
    expect(e).toMatchObject({ kind: 'unavailable', code: 'HTTP 502', message: 'CloudWatch Logs answered HTTP 502 with a body that is not AWS JSON' })
    expect(fake.calls.map((c) => c.status)).toEqual([503, 502])

    await fake.close()
    expect(await failure(client.fetchPage(req()), settings)).toMatchObject({ kind: 'unavailable' })
  })

  it('treats a clock the SDK has just corrected as transient, not as bad credentials', async () => {
    // The fake's clock is 10 minutes ahead: AWS refuses the first signature as expired, the SDK
    // adopts the server's clock from the answer's Date header, and the next call goes through.
    const { fake, client } = await setup({}, { clockOffsetMs: 10 * MIN })
    const e = await failure(client.fetchPage(req()))
    expect(e).toMatchObject({ kind: 'unavailable', code: 'InvalidSignatureException' })
    expect(e.message).toContain('Signature expired')
    await client.fetchPage(req())
    expect(fake.calls.map((c) => c.status)).toEqual([400, 200])
  })
})

describe('abort', () => {
  it('does not call AWS with an aborted signal', async () => {
    const { fake, client } = await setup()
    const ac = new AbortController()
    ac.abort()
    expect(await failure(client.fetchPage(req({ signal: ac.signal })))).toMatchObject({ kind: 'unavailable', code: 'ABORTED' })
    expect(fake.calls).toHaveLength(0)
  })

  it('gives up a call in flight when the signal aborts, and says so when it was a timeout', async () => {
    const { fake, client } = await setup()
    fake.stallNext(2)
    const ac = new AbortController()
    const pending = client.fetchPage(req({ signal: ac.signal }))
    await vi.waitFor(() => expect(fake.calls).toHaveLength(1))
    ac.abort()
    expect(await failure(pending)).toMatchObject({ kind: 'unavailable', code: 'ABORTED' })
    await vi.waitFor(() => expect(fake.calls[0]?.status).toBe(499))

    expect(await failure(client.fetchPage(req({ signal: AbortSignal.timeout(200) })))).toMatchObject({ kind: 'unavailable', code: 'TIMEOUT' })
    // The stalls are used up: the client still works.
    expect((await client.fetchPage(req())).events).toEqual([])
  })
})

describe('test()', () => {
  it('makes one FilterLogEvents call of one event over the last minute', async () => {
    const { fake, client } = await setup({ filterPattern: 'ERROR' })
    const before = Date.now()
    await client.test(new AbortController().signal)
    const bodies = filterBodies(fake)
    expect(bodies).toHaveLength(1)
    expect(bodies[0]).toMatchObject({ logGroupName: fake.logGroupName, filterPattern: 'ERROR', limit: 1 })
    const { startTime, endTime } = bodies[0] as { startTime: number; endTime: number }
    expect(endTime - startTime).toBe(MIN - 1)
    expect(endTime).toBeGreaterThanOrEqual(before - 1)
  })
})

describe('the SDK on the wire', () => {
  it('sends AWS JSON 1.1 signed with SigV4 by the settings key, for the settings region and the logs service', async () => {
    const { fake, client, settings } = await setup({}, { region: 'ap-southeast-2' })
    await client.fetchPage(req())
    const call = fake.calls[0]
    expect(call).toMatchObject({ method: 'POST', path: '/', operation: 'FilterLogEvents', status: 200 })
    expect(call?.headers['content-type']).toBe('application/x-amz-json-1.1')
    expect(call?.headers['x-amz-target']).toBe('Logs_20140328.FilterLogEvents')
    expect(call?.headers.authorization).toMatch(new RegExp(`^AWS4-HMAC-SHA256 Credential=${settings.accessKeyId}/\\d{8}/ap-southeast-2/logs/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`))
    // The fake verified the signature with the key's secret, as AWS does.
    expect(call?.auth).toMatchObject({ accessKeyId: settings.accessKeyId, region: 'ap-southeast-2', service: 'logs', sessionToken: false })
    expect(call?.auth?.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-target', 'content-type']))
    expect(call?.headers['x-amz-security-token']).toBeUndefined()
    expect(call?.headers['user-agent']).toContain('app/sluice-connectors')
  })

  it("ignores the machine's AWS environment: credentials, region, retries and endpoint come from the settings only", async () => {
    const elsewhere = await startFakeCloudWatchLogs()
    for (const [k, v] of Object.entries({
      AWS_ACCESS_KEY_ID: elsewhere.key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: elsewhere.key.secretAccessKey,
      AWS_REGION: 'sa-east-1',
      AWS_DEFAULT_REGION: 'sa-east-1',
      AWS_MAX_ATTEMPTS: '5',
      AWS_RETRY_MODE: 'adaptive',
      AWS_ENDPOINT_URL: elsewhere.endpoint,
      AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: elsewhere.endpoint,
      AWS_PROFILE: 'does-not-exist',
      AWS_CONFIG_FILE: '/nonexistent/aws/config',
    })) {
      vi.stubEnv(k, v)
    }
    onTestFinished(() => {
      vi.unstubAllEnvs()
    })
    const { fake, client, settings } = await setup()
    fake.failNext(1, 503)
    await failure(client.fetchPage(req()))
    await client.fetchPage(req())
    expect(elsewhere.calls).toHaveLength(0)
    expect(fake.calls.map((c) => [c.status, c.auth?.accessKeyId, c.auth?.region])).toEqual([
      [503, settings.accessKeyId, fake.region],
      [200, settings.accessKeyId, fake.region],
    ])
  })
})
