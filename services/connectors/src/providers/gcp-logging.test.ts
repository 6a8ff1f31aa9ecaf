// The Google Cloud Logging provider running the real @google-cloud/logging client (REST transport,
// google-auth-library's self-signed JWTs) against the fake in test/fakes/gcp-logging.ts: settings,
// the mapping of every field, windows, pages, and each failure the framework tells apart.
import { generateKeyPairSync } from 'node:crypto'
import { beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest'
import { startFakeGcpLogging } from '../../../../test/fakes/gcp-logging.js'
import { readAll } from '../../../../test/fakes/pages.js'
import type { FakeGcpLogging, FakeLogEntry } from '../../../../test/fakes/gcp-logging.js'
import { ProviderError } from '../provider.js'
import type { FetchRequest, ProviderClient } from '../provider.js'
import { gcpLogging, parseRetryAfter, windowFilter } from './gcp-logging.js'
import type { GcpLoggingSettings } from './gcp-logging.js'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0)
const MIN = 60_000
const iso = (ms: number, fraction = '') => new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${String(ms % 1000).padStart(3, '0')}${fraction}Z`)

beforeEach(() => {
  // google-auth-library warns on every client built from a key object; the report explains why the
  // provider still does. Everything else is printed.
  const warn = console.warn.bind(console)
  vi.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('The `credentials` option is deprecated')) return
    warn(...args)
  })
})

async function setup(overrides: Partial<GcpLoggingSettings> = {}, opts: { maxPageSize?: number } = {}): Promise<{ fake: FakeGcpLogging; client: ProviderClient; settings: GcpLoggingSettings }> {
  const fake = await startFakeGcpLogging(opts)
  const settings = gcpLogging.settingsSchema.parse(fake.settings(overrides))
  const client = gcpLogging.connect(settings)
  onTestFinished(() => client.close())
  return { fake, client, settings }
}

const req = (over: Partial<FetchRequest> = {}): FetchRequest => ({ fromMs: T0 - 10 * MIN, toMs: T0 + 10 * MIN, limit: 100, signal: new AbortController().signal, ...over })

async function failure(p: Promise<unknown>): Promise<ProviderError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ProviderError)
  const e = err as ProviderError
  // Never a secret in what the framework stores and shows.
  expect(e.message).not.toMatch(/PRIVATE KEY|eyJ|Bearer [^[]/)
  return e
}

const listBodies = (fake: FakeGcpLogging) => fake.calls.filter((c) => c.path === '/v2/entries:list').map((c) => c.body as Record<string, unknown>)

describe('settings', () => {
  it('takes a service-account key file as it is downloaded, and names credentials as the secret', async () => {
    const fake = await startFakeGcpLogging()
    const key = { ...fake.settings().credentials, auth_uri: 'https://accounts.google.com/o/oauth2/auth', client_x509_cert_url: 'https://www.googleapis.com/robot/v1/metadata/x509/x', universe_domain: 'googleapis.com' }
    const parsed = gcpLogging.settingsSchema.parse({ projectId: 'my-project-123', credentials: key, filter: 'severity>=WARNING' })
    expect(parsed).toMatchObject({ projectId: 'my-project-123', filter: 'severity>=WARNING', credentials: { client_email: fake.clientEmail } })
    expect(parsed.endpoint).toBeUndefined()
    expect(gcpLogging.kind).toBe('gcp-logging')
    expect(gcpLogging.secretFields).toEqual(['credentials'])
  })

  it('refuses unknown fields, bad project ids, non-keys, unbalanced filters and endpoints with a path — without echoing the key', async () => {
    const fake = await startFakeGcpLogging()
    const good = fake.settings()
    const issues = (s: unknown) => {
      const r = gcpLogging.settingsSchema.safeParse(s)
      expect(r.success).toBe(false)
      return JSON.stringify(r.error?.issues)
    }
    expect(issues({ ...good, region: 'eu' })).toContain('region')
    expect(issues({ ...good, projectId: 'Projects/X' })).toContain('project id')
    expect(issues({ ...good, filter: 'severity>=ERROR) OR (true' })).toContain('unbalanced')
    expect(issues({ ...good, endpoint: 'https://logging.example.com/v2' })).toContain('no path')
    expect(issues({ ...good, credentials: { ...good.credentials, type: 'authorized_user' } })).toContain('service-account')
    const notAKey = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----\n'
    const text = issues({ ...good, credentials: { ...good.credentials, private_key: notAKey } })
    expect(text).toContain('not a PEM private key')
    expect(text).not.toContain('c2VjcmV0')
    expect(issues({ projectId: good.projectId })).toContain('credentials')
    // A private key Google's RS256 tokens cannot be signed with.
    for (const type of ['ec', 'ed25519'] as const) {
      const pem = (type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519')).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
      expect(issues({ ...good, credentials: { ...good.credentials, private_key: pem } })).toContain('expected an RSA private key')
    }
  })
})

describe('mapping', () => {
  it('maps every field of an entry, keeping the nanoseconds', async () => {
    const { fake, client } = await setup()
    fake.add({
      timestamp: iso(T0, '123456'),
      logName: `projects/${fake.projectId}/logs/stdout`,
      insertId: 'ins-1',
      severity: 'ERROR',
      resource: { type: 'k8s_container', labels: { project_id: fake.projectId, location: 'europe-west1', cluster_name: 'prod', namespace_name: 'shop', pod_name: 'checkout-7d9f-abcde', container_name: 'checkout' } },
      labels: { 'k8s-pod/app': 'checkout', 'compute.googleapis.com/resource_name': 'gke-prod-pool-1-node-a' },
      jsonPayload: { message: 'payment declined', order_id: 'o-42', amount: 12.5, retry: false, card: { brand: 'visa' } },
      httpRequest: { requestMethod: 'POST', requestUrl: 'https://shop.example.com/pay', status: 402, latency: '0.120s', userAgent: 'curl/8' },
      trace: `projects/${fake.projectId}/traces/4BF92F3577B34DA6A3CE929D0E0E4736`,
      spanId: '00F067AA0BA902B7',
      traceSampled: true,
    })
    const page = await client.fetchPage(req())
    expect(page).toEqual({
      nextPageToken: undefined,
      events: [
        {
          providerId: `projects/${fake.projectId}/logs/stdout|${BigInt(T0) * 1_000_000n + 123_456n}|ins-1`,
          timeMs: T0,
          record: {
            timestamp: `${BigInt(T0) * 1_000_000n + 123_456n}`,
            service: 'checkout',
            message: 'payment declined',
            level: 'error',
            host: 'gke-prod-pool-1-node-a',
            trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
            span_id: '00f067aa0ba902b7',
            attributes: {
              'gcp.log_name': `projects/${fake.projectId}/logs/stdout`,
              'gcp.insert_id': 'ins-1',
              'http.status': '402',
              'http.method': 'POST',
              'http.url': 'https://shop.example.com/pay',
              'k8s-pod/app': 'checkout',
              'compute.googleapis.com/resource_name': 'gke-prod-pool-1-node-a',
              order_id: 'o-42',
              amount: '12.5',
              retry: 'false',
              card: '{"brand":"visa"}',
            },
            resource: {
              'cloud.provider': 'gcp',
              'gcp.resource.type': 'k8s_container',
              project_id: fake.projectId,
              location: 'europe-west1',
              cluster_name: 'prod',
              namespace_name: 'shop',
              pod_name: 'checkout-7d9f-abcde',
              container_name: 'checkout',
            },
          },
        },
      ],
    })
  })

  it('maps severities to levels, leaving DEFAULT and absent ones out', async () => {
    const { fake, client } = await setup()
    const severities = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'] as const
    severities.forEach((severity, i) => fake.add({ timestamp: iso(T0 + i), severity, textPayload: severity }))
    fake.add({ timestamp: iso(T0 + 20), textPayload: 'none' })
    const { events } = await readAll(client, req())
    expect(Object.fromEntries(events.map((e) => [e.record.message, e.record.level ?? null]))).toEqual({
      DEFAULT: null,
      DEBUG: 'debug',
      INFO: 'info',
      NOTICE: 'info',
      WARNING: 'warn',
      ERROR: 'error',
      CRITICAL: 'fatal',
      ALERT: 'fatal',
      EMERGENCY: 'fatal',
      none: null,
    })
  })

  it('takes the service from the setting, else the resource labels in order, else the decoded log id', async () => {
    const { fake, client } = await setup()
    const p = fake.projectId
    const cases: Array<[string, FakeLogEntry['resource'], string]> = [
      ['run', { type: 'cloud_run_revision', labels: { service_name: 'api', revision_name: 'api-0001', configuration_name: 'api' } }, 'api'],
      ['gae', { type: 'gae_app', labels: { module_id: 'default', version_id: 'v1' } }, 'default'],
      ['fn', { type: 'cloud_function', labels: { function_name: 'resize', region: 'us-central1' } }, 'resize'],
      ['k8s', { type: 'k8s_container', labels: { container_name: 'web', pod_name: 'web-1' } }, 'web'],
      ['task', { type: 'generic_task', labels: { job: 'nightly', task_id: '1' } }, 'nightly'],
      ['runjob', { type: 'cloud_run_job', labels: { job_name: 'export' } }, 'export'],
      ['order', { type: 'x', labels: { container_name: 'second', service_name: 'first' } }, 'first'],
      ['audit', { type: 'gce_instance', labels: { instance_id: '123' } }, 'cloudaudit.googleapis.com/activity'],
    ]
    cases.forEach(([name, resource], i) => fake.add({ timestamp: iso(T0 + i), textPayload: name, resource, logName: name === 'audit' ? `projects/${p}/logs/cloudaudit.googleapis.com%2Factivity` : `projects/${p}/logs/${name}` }))
    const { events } = await readAll(client, req())
    expect(events.map((e) => e.record.service)).toEqual(cases.map((c) => c[2]))
    expect(events.at(-1)?.record.host).toBe('123')

    const named = gcpLogging.connect(gcpLogging.settingsSchema.parse(fake.settings({ service: 'billing' })))
    const page = await named.fetchPage(req())
    expect(new Set(page.events.map((e) => e.record.service))).toEqual(new Set(['billing']))
    await named.close()
  })

  it('takes the message from textPayload, jsonPayload.message or msg, the whole jsonPayload, or the HTTP request', async () => {
    const { fake, client } = await setup()
    fake.add(
      { timestamp: iso(T0 + 1), textPayload: 'plain text' },
      { timestamp: iso(T0 + 2), jsonPayload: { msg: 'from msg', level: 30 } },
      { timestamp: iso(T0 + 3), jsonPayload: { event: 'login', user: { id: 7 }, tags: ['a', null] } },
      { timestamp: iso(T0 + 4), jsonPayload: { message: { nested: true } } },
      { timestamp: iso(T0 + 5), httpRequest: { requestMethod: 'GET', requestUrl: 'https://lb.example.com/health', status: 200 } },
    )
    const { events } = await readAll(client, req())
    expect(events.map((e) => e.record.message)).toEqual([
      'plain text',
      'from msg',
      '{"event":"login","user":{"id":7},"tags":["a",null]}',
      '{"message":{"nested":true}}',
      'GET https://lb.example.com/health 200',
    ])
    expect(events[1]?.record.attributes).toMatchObject({ level: '30' })
    expect(events[1]?.record.attributes).not.toHaveProperty('msg')
    expect(events[2]?.record.attributes).not.toHaveProperty('event')
  })

  it('drops trace and span ids that are not valid hex ids', async () => {
    const { fake, client } = await setup()
    fake.add(
      { timestamp: iso(T0 + 1), textPayload: 'a', trace: '0123456789abcdef0123456789abcdef', spanId: '1234567890' },
      { timestamp: iso(T0 + 2), textPayload: 'b', trace: 'projects/p/traces/00000000000000000000000000000000', spanId: '0000000000000000' },
      { timestamp: iso(T0 + 3), textPayload: 'c', trace: 'projects/p/traces/not-a-trace', spanId: 'zz67aa0ba902b7zz' },
    )
    const { events } = await readAll(client, req())
    expect(events.map((e) => [e.record.trace_id ?? null, e.record.span_id ?? null])).toEqual([
      ['0123456789abcdef0123456789abcdef', null],
      [null, null],
      [null, null],
    ])
  })

  it('gives an entry the same provider id on every read, and entries sharing an insertId different ones', async () => {
    const { fake, client } = await setup()
    const p = fake.projectId
    fake.add(
      { timestamp: iso(T0 + 1), insertId: 'same', logName: `projects/${p}/logs/a`, textPayload: '1' },
      { timestamp: iso(T0 + 1), insertId: 'same', logName: `projects/${p}/logs/b`, textPayload: '2' },
      { timestamp: iso(T0 + 2), insertId: 'same', logName: `projects/${p}/logs/a`, textPayload: '3' },
    )
    const first = (await readAll(client, req())).events.map((e) => e.providerId)
    const again = (await readAll(client, req())).events.map((e) => e.providerId)
    expect(again).toEqual(first)
    expect(new Set(first).size).toBe(3)
  })
})

describe('windows and pages', () => {
  it('asks for [from, to) ANDed with the filter, and returns exactly the entries in it, to the nanosecond', async () => {
    const { fake, client } = await setup({ filter: 'severity>=WARNING' })
    const from = T0
    const to = T0 + MIN
    fake.add(
      { timestamp: iso(from - 1, '999999'), severity: 'ERROR', textPayload: 'just before' },
      { timestamp: iso(from), severity: 'ERROR', textPayload: 'at from' },
      { timestamp: iso(from + 5), severity: 'INFO', textPayload: 'filtered out' },
      { timestamp: iso(to - 1, '999999'), severity: 'WARNING', textPayload: 'last nanosecond' },
      { timestamp: iso(to), severity: 'ERROR', textPayload: 'at to' },
    )
    const page = await client.fetchPage(req({ fromMs: from, toMs: to }))
    expect(page.events.map((e) => [e.record.message, e.timeMs])).toEqual([
      ['at from', from],
      ['last nanosecond', to - 1],
    ])
    expect(listBodies(fake)[0]).toEqual({
      resourceNames: [`projects/${fake.projectId}`],
      filter: `timestamp >= "${iso(from)}" AND timestamp < "${iso(to)}" AND (severity>=WARNING)`,
      orderBy: 'timestamp asc',
      pageSize: 100,
    })
    expect(windowFilter(from, to, undefined)).toBe(`timestamp >= "${iso(from)}" AND timestamp < "${iso(to)}"`)
  })

  it('pages through a window in ascending order with no entry lost or repeated', async () => {
    const { fake, client } = await setup()
    const times = [7, 3, 9, 1, 5, 2, 8, 4, 6].map((s) => T0 + s * 1000)
    for (const t of times) fake.add({ timestamp: iso(t), textPayload: `at ${t}` })
    fake.add({ timestamp: iso(T0 + 4000), textPayload: 'same ms, later arrival' })
    const { pages, events } = await readAll(client, req({ limit: 3 }))
    expect(pages.map((p) => p.events.length)).toEqual([3, 3, 3, 1])
    expect(pages.slice(0, -1).every((p) => typeof p.nextPageToken === 'string')).toBe(true)
    expect(events.map((e) => e.timeMs)).toEqual([...times, T0 + 4000].sort((a, b) => a - b))
    expect(new Set(events.map((e) => e.providerId)).size).toBe(10)
    const bodies = listBodies(fake)
    expect(bodies.map((b) => b.pageSize)).toEqual([3, 3, 3, 3])
    expect(bodies[0]).not.toHaveProperty('pageToken')
    expect(bodies.slice(1).every((b, i) => b.pageToken === pages[i]?.nextPageToken)).toBe(true)
    expect(fake.served()).toBe(4)
  })

  it('sees late entries on the next read of the window, not in the pages already under way', async () => {
    const { fake, client } = await setup()
    for (let i = 1; i <= 4; i++) fake.add({ timestamp: iso(T0 + i * 1000), textPayload: `e${i}` })
    const first = await client.fetchPage(req({ limit: 2 }))
    fake.add({ timestamp: iso(T0 + 500), textPayload: 'late, before the cursor' }, { timestamp: iso(T0 + 3500), textPayload: 'late, after the cursor' })
    const rest = await readAll(client, req({ limit: 2, pageToken: first.nextPageToken }))
    expect([...first.events, ...rest.events].map((e) => e.record.message)).toEqual(['e1', 'e2', 'e3', 'late, after the cursor', 'e4'])
    const reread = await readAll(client, req({ limit: 10 }))
    expect(reread.events.map((e) => e.record.message)).toEqual(['late, before the cursor', 'e1', 'e2', 'e3', 'late, after the cursor', 'e4'])
  })

  it('follows the pages when the service returns fewer entries than asked', async () => {
    const { fake, client } = await setup({}, { maxPageSize: 2 })
    for (let i = 1; i <= 5; i++) fake.add({ timestamp: iso(T0 + i), textPayload: `e${i}` })
    const { pages, events } = await readAll(client, req({ limit: 4 }))
    expect(pages.map((p) => p.events.length)).toEqual([2, 2, 1])
    expect(events.map((e) => e.record.message)).toEqual(['e1', 'e2', 'e3', 'e4', 'e5'])
  })

  it('asks for at most 1000 entries a page, the API maximum', async () => {
    const { fake, client } = await setup()
    await client.fetchPage(req({ limit: 5000 }))
    expect(listBodies(fake)[0]?.pageSize).toBe(1000)
  })
})

describe('failures', () => {
  it('reports throttling with the delay from google.rpc.RetryInfo, without retrying itself', async () => {
    const { fake, client } = await setup()
    fake.throttleNext(1, 30, 'retry-info')
    const e = await failure(client.fetchPage(req()))
    expect(e).toMatchObject({ kind: 'throttled', code: 'RESOURCE_EXHAUSTED', retryAfterMs: 30_000 })
    expect(e.message).toContain('RATE_LIMIT_EXCEEDED')
    expect(fake.calls).toHaveLength(1)
    expect((await client.fetchPage(req())).events).toEqual([])
  })

  it('reports throttling with the delay from a Retry-After header', async () => {
    const { fake, client } = await setup()
    fake.throttleNext(1, 12, 'header')
    expect(await failure(client.fetchPage(req()))).toMatchObject({ kind: 'throttled', retryAfterMs: 12_000 })
    fake.throttleNext(1)
    const e = await failure(client.fetchPage(req()))
    expect(e.kind).toBe('throttled')
    expect(e.retryAfterMs).toBeUndefined()
    expect(parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(50_000)
    expect(parseRetryAfter('soon')).toBeUndefined()
  })

  it('reports a key the service account does not have as auth', async () => {
    const fake = await startFakeGcpLogging()
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    const good = fake.settings()
    const client = gcpLogging.connect(gcpLogging.settingsSchema.parse({ ...good, credentials: { ...good.credentials, private_key: other } }))
    const e = await failure(client.fetchPage(req()))
    expect(e).toMatchObject({ kind: 'auth', code: 'UNAUTHENTICATED' })
    expect(fake.calls[0]?.principal).toBeUndefined()
    const tested = await failure(client.test(new AbortController().signal))
    expect(tested.kind).toBe('auth')
  })

  it('reports a project it cannot see as auth, with Google saying it may not exist', async () => {
    const { client } = await setup({ projectId: 'no-such-project' })
    const e = await failure(client.fetchPage(req()))
    expect(e).toMatchObject({ kind: 'auth', code: 'PERMISSION_DENIED' })
    expect(e.message).toContain('or it may not exist')
  })

  it('reports a filter Cloud Logging refuses, and a missing resource, as bad_request', async () => {
    const { fake, client } = await setup({ filter: 'severity>>ERROR' })
    expect(await failure(client.fetchPage(req()))).toMatchObject({ kind: 'bad_request', code: 'INVALID_ARGUMENT' })
    const ok = gcpLogging.connect(gcpLogging.settingsSchema.parse(fake.settings()))
    fake.failNext(1, 404)
    expect(await failure(ok.fetchPage(req()))).toMatchObject({ kind: 'bad_request', code: 'NOT_FOUND' })
    await ok.close()
  })

  it('reports an entry whose protoPayload the REST client cannot decode as bad_request, with the filter that avoids it', async () => {
    const { fake, client } = await setup()
    fake.add(
      { timestamp: iso(T0 + 1), textPayload: 'app' },
      {
        timestamp: iso(T0 + 2),
        logName: `projects/${fake.projectId}/logs/cloudaudit.googleapis.com%2Factivity`,
        severity: 'NOTICE',
        protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', serviceName: 'compute.googleapis.com', methodName: 'v1.compute.instances.insert' },
      },
    )
    const e = await failure(client.fetchPage(req()))
    expect(e).toMatchObject({ kind: 'bad_request', code: 'UNDECODABLE_ENTRY' })
    expect(e.message).toContain('google.cloud.audit.AuditLog')
    expect(e.message).toContain('NOT logName:"cloudaudit.googleapis.com"')
    const filtered = gcpLogging.connect(gcpLogging.settingsSchema.parse(fake.settings({ filter: 'NOT logName:"cloudaudit.googleapis.com"' })))
    expect((await filtered.fetchPage(req())).events.map((ev) => ev.record.message)).toEqual(['app'])
    await filtered.close()
  })

  it('reports an outage as unavailable after a single request', async () => {
    const { fake, client } = await setup()
    fake.failNext(1, 503)
    expect(await failure(client.fetchPage(req()))).toMatchObject({ kind: 'unavailable', code: 'UNAVAILABLE' })
    expect(fake.calls).toHaveLength(1)
    fake.failNext(1, 500)
    expect(await failure(client.fetchPage(req()))).toMatchObject({ kind: 'unavailable', code: 'INTERNAL' })
    expect(fake.calls).toHaveLength(2)
    await fake.close()
    expect((await failure(client.fetchPage(req()))).kind).toBe('unavailable')
  })

  it('stops a call when the signal aborts, and tells an abort from a timeout', async () => {
    const { fake, client } = await setup()
    fake.stallNext(2)
    const ac = new AbortController()
    const pending = failure(client.fetchPage(req({ signal: ac.signal })))
    await vi.waitFor(() => expect(fake.calls).toHaveLength(1))
    ac.abort()
    expect(await pending).toMatchObject({ kind: 'unavailable', code: 'ABORTED' })
    await vi.waitFor(() => expect(fake.calls[0]?.status).toBe(499))

    expect(await failure(client.fetchPage(req({ signal: AbortSignal.timeout(100) })))).toMatchObject({ kind: 'unavailable', code: 'TIMEOUT' })

    const already = new AbortController()
    already.abort()
    expect(await failure(client.fetchPage(req({ signal: already.signal })))).toMatchObject({ code: 'ABORTED' })
    expect(fake.calls).toHaveLength(2)
  })
})

describe('the SDK against the fake', () => {
  it('authenticates with a JWT it signs with the service account key, cached across calls, and no token exchange', async () => {
    const { fake, client, settings } = await setup()
    await client.fetchPage(req())
    await client.fetchPage(req())
    const [first, second] = fake.calls
    expect(fake.calls.map((c) => c.path)).toEqual(['/v2/entries:list', '/v2/entries:list'])
    expect(first?.principal).toMatchObject({ email: settings.credentials.client_email, kid: settings.credentials.private_key_id, scope: 'https://www.googleapis.com/auth/logging.read' })
    expect((first?.principal?.exp ?? 0) - (first?.principal?.iat ?? 0)).toBe(3600)
    expect(second?.headers.authorization).toBe(first?.headers.authorization)
    expect(first?.headers['x-goog-api-client']).toMatch(/gapic\/\S+ .*gl-node\/\S+ rest\//)
    expect(first?.query.get('$alt')).toBe('json;enum-encoding=int')
  })

  it('uses only the credentials it is given, whatever the environment says', async () => {
    vi.stubEnv('GOOGLE_APPLICATION_CREDENTIALS', '/nonexistent/key.json')
    vi.stubEnv('GOOGLE_CLOUD_PROJECT', 'another-project')
    try {
      const { fake, client } = await setup()
      fake.add({ timestamp: iso(T0), textPayload: 'hello' })
      expect((await client.fetchPage(req())).events).toHaveLength(1)
      expect(fake.calls[0]?.principal?.email).toBe(fake.clientEmail)
    } finally {
      vi.unstubAllEnvs()
    }
  })

  it('tests a connection with one small read of the last minute', async () => {
    const { fake, client } = await setup({ filter: 'resource.type="k8s_container"' })
    const before = Date.now()
    await client.test(new AbortController().signal)
    const body = listBodies(fake)[0]
    expect(body?.pageSize).toBe(1)
    const [, from, to] = /^timestamp >= "(.+?)" AND timestamp < "(.+?)" AND \(resource\.type="k8s_container"\)$/.exec(String(body?.filter)) ?? []
    expect(Date.parse(to ?? '') - Date.parse(from ?? '')).toBe(60_000)
    expect(Date.parse(to ?? '')).toBeGreaterThanOrEqual(before)
    await client.close()
  })
})
