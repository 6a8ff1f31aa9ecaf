// The alerter service without a broker: its stage driven directly (open → transform → sink →
// capture), a fake producer and encoder, an in-memory checkpoint store and a fixed clock; its
// HTTP routes through app.inject().
import { createProcessSecurity, hashKey, openSecurity } from '@sluice/auth'
import type { AuditRow, Security } from '@sluice/auth'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { Alert, EnrichedLog } from '@sluice/core'
import type { Kafka, Message } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import type { Codecs } from '@sluice/service'
import { enrichedLog } from '../../../test/infra/enriched.js'
import { loadConfig } from './config.js'
import { createService } from './service.js'
import type { Checkpoint, CheckpointStore } from './state-store.js'
import { decodeCheckpoint } from './state-store.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { gzipSync } from 'node:zlib'
import { loadAvsc } from '@sluice/registry'

const TOPIC = 'enriched'
const ENRICHED_SCHEMA = loadAvsc('enriched-log.avsc')
const T0 = Date.UTC(2026, 10, 30, 12, 0, 0)

/** Checkpoints kept in a map, as the compacted topic would keep the latest per key. */
function memoryStore(): CheckpointStore & { saved: Map<string, Checkpoint>; puts: number } {
  const saved = new Map<string, Checkpoint>()
  return {
    saved,
    puts: 0,
    start: async () => undefined,
    caughtUp: async () => undefined,
    get: (key) => saved.get(key),
    async put(entries) {
      this.puts++
      for (const e of entries) saved.set(e.key, decodeCheckpoint(gzipSync(e.json)))
      return entries.reduce((n, e) => n + e.json.length, 0)
    },
    close: async () => undefined,
  }
}

function setup(store = memoryStore(), security: Security = openSecurity(createLogger({ level: 'silent' }), 'alerter'), env: Record<string, string> = {}) {
  const produced: Message[] = []
  const alerts = (): Alert[] => produced.map((m) => JSON.parse(String(m.value)) as Alert)
  const config = loadConfig({ TOPIC_LOGS_ENRICHED: TOPIC, TOPIC_ALERTS: 'alerts', ALERTER_GROUP_ID: 'g', ALERTER_SECRETS_KEY: 'a'.repeat(64), ...env })
  let now = T0
  /** The fields of each projection the service asked of the enriched codec. */
  const projections: string[][] = []
  const codecs = {
    alert: { encode: (a: Alert) => Buffer.from(JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) },
    // The real schema; a record's bytes are its JSON here, which every projection parses.
    enriched: {
      schema: ENRICHED_SCHEMA,
      projection: (reader: { fields: Array<{ name: string }> }) => {
        projections.push(reader.fields.map((f) => f.name))
        return { decodeSync: (v: Buffer) => JSON.parse(String(v)) as unknown, decode: async (v: Buffer) => JSON.parse(String(v)) as unknown }
      },
    },
  } as unknown as Codecs
  const service = createService(
    config,
    {
      logger: createLogger({ level: 'silent' }),
      registry: createRegistry({ defaultMetrics: false }),
      checks: {},
      clock: () => now,
      security,
      kafka: undefined as unknown as Kafka,
      // Only the alerts topic: the inbox writes its items through the same producer.
      producer: { send: async (topic, messages) => void (topic === 'alerts' && produced.push(...messages)) },
      codecs,
      registryUrl: 'http://registry.invalid',
    },
    { store },
  )
  const state = service.stage.state!
  let offset = 0
  /** Runs records through the stage as the runner would: transform, then sink. */
  const feed = async (partition: number, logs: EnrichedLog[]) => {
    const records = logs.map((log) => ({ key: null, value: Buffer.from(JSON.stringify(log, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))), offset: String(offset++), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage)
    const out = await service.stage.transform({ topic: TOPIC, partition, records, values: logs })
    await service.stage.sink(out.outputs)
    return out.outputs
  }
  return { service, state, store, feed, produced, alerts, projections, tick: (ms: number) => (now += ms) }
}

const fatal = (service: string, atMs = T0) => enrichedLog({ service, atMs, level: 'FATAL', severity_text: 'FATAL', severity_number: 21, is_error: true, message: 'ledger corrupted' })

describe('alerter stage', () => {
  it('fires on a FATAL record, produces the alert keyed by its id, and checkpoints the state with the offset it covers', async () => {
    const { state, store, feed, produced, alerts } = setup()
    expect(await state.open(TOPIC, 0)).toBeUndefined()
    await feed(0, [enrichedLog({ atMs: T0 }), fatal('payments')])
    // The built-in rules: any FATAL, and a new error pattern.
    expect(alerts().map((a) => [a.rule_kind, a.service, a.status, a.version]).sort()).toEqual([
      ['level', 'payments', 'firing', 1],
      ['new_pattern', 'payments', 'firing', 1],
    ])
    expect(produced.map((m) => m.key)).toEqual(alerts().map((a) => a.id))
    // No built-in rule reads every record's text: the summaries read it from the record's bytes.
    expect(alerts().find((a) => a.rule_kind === 'level')!.summary).toContain('ledger corrupted')

    const write = await state.capture(false)
    expect(await write!()).toEqual([{ topic: TOPIC, partition: 0, offset: '2' }])
    expect(store.saved.get(`g|${TOPIC}|0`)?.nextOffset).toBe(2n)
    // Unchanged since: nothing to write.
    expect(await state.capture(false)).toBeUndefined()
  })

  it('restores a partition from its checkpoint: the same incident is not fired again', async () => {
    const store = memoryStore()
    const first = setup(store)
    await first.state.open(TOPIC, 0)
    await first.feed(0, [fatal('payments')])
    await (await first.state.capture(false))!()

    const second = setup(store)
    expect(await second.state.open(TOPIC, 0)).toBe('1')
    // The same FATAL again: the incident is open already (an update at most, never a second fire).
    await second.feed(0, [fatal('payments', T0 + 1000)])
    expect(second.alerts().filter((a) => a.version === 1)).toEqual([])
  })
})

describe("alerter decoding: a record's text only when a rule reads it for every record", () => {
  it('decodes the built-in rules\' fields without the text, and a pattern rule\'s with it, which then matches the message', async () => {
    const plain = setup()
    expect(plain.projections[0]).toEqual(expect.arrayContaining(['id', 'tenant', 'service', 'timestamp', 'level', 'is_error', 'pattern_id']))
    expect(plain.projections[0]).not.toContain('message')
    expect([...plain.projections[1]!].sort()).toEqual(['category', 'message', 'template'])

    const dir = mkdtempSync(path.join(tmpdir(), 'alerter-rules-'))
    const file = path.join(dir, 'rules.json')
    writeFileSync(file, JSON.stringify({ rules: [{ id: 'oom', name: 'Out of memory', kind: 'pattern', regex: 'OutOfMemory', threshold: 1, windowMs: 60_000, slideMs: 60_000 }] }))
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }))
    const pattern = setup(memoryStore(), undefined, { ALERTER_RULES_FILE: file })
    expect(pattern.projections).toHaveLength(1)
    expect(pattern.projections[0]).toEqual(expect.arrayContaining(['message', 'template', 'category']))
    await pattern.state.open(TOPIC, 0)
    await pattern.feed(0, [enrichedLog({ service: 'api', atMs: T0 + 1_000, message: 'java.lang.OutOfMemoryError: heap' }), enrichedLog({ service: 'api', atMs: T0 + 10 * 60_000 })])
    expect(pattern.alerts().filter((a) => a.status === 'firing').map((a) => [a.rule_id, a.service, a.summary])).toEqual([['oom', 'api', expect.stringContaining('/OutOfMemory/') as string]])
  })
})

describe('alerter HTTP API', () => {
  it('lists open alerts, acknowledges a firing one (produced as version 2), and answers 409, 404 and 400 where it should', async () => {
    const { service, state, feed, alerts } = setup()
    await state.open(TOPIC, 0)
    await feed(0, [fatal('payments')])
    const app = service.app
    const listed = await app.inject({ url: '/v1/alerts' })
    expect(listed.json().alerts.map((a: Alert) => [a.rule_kind, a.status]).sort()).toEqual([
      ['level', 'firing'],
      ['new_pattern', 'firing'],
    ])
    const id = alerts().find((a) => a.rule_kind === 'level')!.id

    const ack = await app.inject({ method: 'POST', url: `/v1/alerts/${id}/ack`, payload: { by: 'oncall@example.com' } })
    expect(ack.statusCode).toBe(200)
    expect(ack.json().alert).toMatchObject({ status: 'acknowledged', acknowledged_by: 'oncall@example.com', version: 2 })
    expect(alerts().filter((a) => a.id === id).map((a) => [a.status, a.version])).toEqual([
      ['firing', 1],
      ['acknowledged', 2],
    ])
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${id}/ack` })).statusCode).toBe(409)
    expect((await app.inject({ method: 'POST', url: '/v1/alerts/0000000000000000/ack' })).statusCode).toBe(404)
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${id}/ack`, payload: { by: '' } })).statusCode).toBe(400)
    expect((await app.inject({ url: '/v1/alerts?status=sleeping' })).statusCode).toBe(400)
    expect((await app.inject({ url: '/v1/alerts?status=acknowledged' })).json().alerts).toHaveLength(1)
    expect((await app.inject({ url: '/v1/alert-rules' })).json().rules.map((r: { id: string }) => r.id)).toContain('fatal')
  })

  it('forgets a revoked partition: its alerts are no longer listed here', async () => {
    const { service, state, feed } = setup()
    await state.open(TOPIC, 0)
    await feed(0, [fatal('payments')])
    state.close(TOPIC, 0)
    expect((await service.app.inject({ url: '/v1/alerts' })).json().alerts).toEqual([])
  })
})

/** Security as the runtime builds it with SLUICE_AUTH=true, its audit rows kept in `rows`. */
function keyed() {
  const rows: AuditRow[] = []
  const keys = [
    { id: 'acme-ops', sha256: hashKey('k-acme'), tenants: ['acme'], scopes: ['alerts' as const] },
    { id: 'globex-ops', sha256: hashKey('k-globex'), tenants: ['globex'], scopes: ['alerts' as const] },
    { id: 'acme-reader', sha256: hashKey('k-reader'), tenants: ['acme'], scopes: ['query' as const] },
    { id: 'root', sha256: hashKey('k-root'), tenants: ['*'], scopes: ['admin' as const] },
  ]
  const process = createProcessSecurity(
    { authEnabled: true, keys: { keys }, keysFile: undefined, keysReloadMs: 5000, tenants: undefined },
    { log: createLogger({ level: 'silent' }), retentionDays: 30, auditWriter: async (batch) => void rows.push(...batch) },
  )
  const security = process.forService('alerter')
  return { security, rows: async () => (await security.audit.flush(), rows) }
}

const as = (key: string, headers: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...headers })

describe('alerter HTTP API with API keys (SLUICE_AUTH=true)', () => {
  async function twoTenants() {
    const k = keyed()
    const s = setup(memoryStore(), k.security)
    await s.state.open(TOPIC, 0)
    await s.feed(0, [fatal('payments'), { ...fatal('billing'), tenant: 'globex' }])
    const idOf = (tenant: string) => s.alerts().find((a) => a.tenant === tenant && a.rule_kind === 'level')!.id
    return { ...s, ...k, acmeId: idOf('acme'), globexId: idOf('globex') }
  }

  it('answers 401 without a key or with an unknown one, and 403 to a key without the alerts scope', async () => {
    const { service, acmeId } = await twoTenants()
    const app = service.app
    const none = await app.inject({ url: '/v1/alerts' })
    expect(none.statusCode).toBe(401)
    expect(none.headers['www-authenticate']).toContain('Bearer realm="sluice"')
    expect((await app.inject({ url: '/v1/alerts', headers: as('k-nobody') })).statusCode).toBe(401)
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${acmeId}/ack`, headers: as('k-reader') })).statusCode).toBe(403)
    expect((await app.inject({ url: '/v1/notification-channels', headers: as('k-reader') })).statusCode).toBe(403)
    // Ops routes stay open.
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  })

  it("shows a key its own tenant's alerts only; another tenant's alert is a 404 to get, ack and resolve, and stays as it was", async () => {
    const { service, acmeId, globexId, alerts } = await twoTenants()
    const app = service.app
    const listed = (await app.inject({ url: '/v1/alerts', headers: as('k-acme') })).json().alerts as Alert[]
    expect(listed.length).toBeGreaterThan(0)
    expect(listed.every((a) => a.tenant === 'acme')).toBe(true)
    expect(listed.map((a) => a.id)).toContain(acmeId)

    expect((await app.inject({ url: `/v1/alerts/${globexId}`, headers: as('k-acme') })).statusCode).toBe(404)
    const ack = await app.inject({ method: 'POST', url: `/v1/alerts/${globexId}/ack`, headers: as('k-acme'), payload: { by: 'mallory' } })
    expect(ack.statusCode).toBe(404)
    expect(ack.json()).toEqual({ error: 'NOT_FOUND', message: `no alert ${globexId}` })
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${globexId}/resolve`, headers: as('k-acme'), payload: { by: 'mallory' } })).statusCode).toBe(404)
    expect((await app.inject({ url: `/v1/alerts/${globexId}/notifications`, headers: as('k-acme') })).json()).toEqual({ attempts: [] })
    // Nothing was produced for the globex alert beyond its firing.
    expect(alerts().filter((a) => a.id === globexId).map((a) => a.status)).toEqual(['firing'])

    // Naming another tenant is refused; naming its own is fine.
    expect((await app.inject({ url: '/v1/alerts', headers: as('k-acme', { 'x-sluice-tenant': 'globex' }) })).statusCode).toBe(403)
    expect((await app.inject({ url: '/v1/alerts?tenant=globex', headers: as('k-acme') })).statusCode).toBe(403)
    expect((await app.inject({ url: `/v1/alerts/${acmeId}`, headers: as('k-acme', { 'x-scope-orgid': 'acme' }) })).statusCode).toBe(200)
    // The globex key acknowledges its own alert.
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${globexId}/ack`, headers: as('k-globex') })).json().alert).toMatchObject({ status: 'acknowledged', tenant: 'globex' })
    // A key of every tenant sees both, or one when it names it.
    const all = (await app.inject({ url: '/v1/alerts', headers: as('k-root') })).json().alerts as Alert[]
    expect(new Set(all.map((a) => a.tenant))).toEqual(new Set(['acme', 'globex']))
    const globex = (await app.inject({ url: '/v1/alerts', headers: as('k-root', { 'x-scope-orgid': 'globex' }) })).json().alerts as Alert[]
    expect(globex.map((a) => a.tenant)).toEqual(globex.map(() => 'globex'))
  })

  it('audits acknowledgements and resolves with the key id, tenant, who and why; a refused one of another tenant too', async () => {
    const { service, acmeId, globexId, rows } = await twoTenants()
    const app = service.app
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${acmeId}/ack`, headers: as('k-acme'), payload: { by: 'jo@acme' } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${acmeId}/resolve`, headers: as('k-acme'), payload: { by: 'jo@acme', reason: 'fixed the disk' } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'POST', url: `/v1/alerts/${globexId}/ack`, headers: as('k-acme'), payload: { by: 'jo@acme' } })).statusCode).toBe(404)
    const audit = (await rows()).filter((r) => r.action.startsWith('alert.'))
    expect(audit.map((r) => [r.action, r.outcome, r.tenant, r.key_id, r.target, r.service])).toEqual([
      ['alert.ack', 'ok', 'acme', 'acme-ops', acmeId, 'alerter'],
      ['alert.resolve', 'ok', 'acme', 'acme-ops', acmeId, 'alerter'],
      ['alert.ack', 'refused', 'acme', 'acme-ops', globexId, 'alerter'],
    ])
    expect(JSON.parse(audit[0]!.details)).toEqual({ by: 'jo@acme' })
    expect(JSON.parse(audit[1]!.details)).toEqual({ by: 'jo@acme', reason: 'fixed the disk' })
    expect(audit[2]!.reason).toBe('alert of another tenant')
    expect(JSON.stringify(audit)).not.toContain('k-acme')
  })

  it("keeps notification channels and the inbox to the key's tenant, and audits channel changes", async () => {
    const { service, rows } = await twoTenants()
    const app = service.app
    const hook = { kind: 'webhook', url: 'https://hooks.example/acme' }
    const made = await app.inject({ method: 'POST', url: '/v1/notification-channels', headers: as('k-acme'), payload: { name: 'ops', ...hook } })
    expect(made.statusCode).toBe(201)
    expect(made.json().channel).toMatchObject({ name: 'ops', tenant: 'acme' })
    expect((await app.inject({ method: 'POST', url: '/v1/notification-channels?tenant=globex', headers: as('k-acme'), payload: { name: 'evil', ...hook } })).statusCode).toBe(403)
    expect((await app.inject({ url: '/v1/notification-channels/ops', headers: as('k-globex') })).statusCode).toBe(404)
    expect((await app.inject({ method: 'DELETE', url: '/v1/notification-channels/ops', headers: as('k-globex') })).statusCode).toBe(404)
    expect((await app.inject({ url: '/v1/notification-channels', headers: as('k-globex') })).json().channels).toEqual([])
    expect((await app.inject({ method: 'PUT', url: '/v1/notification-channels/ops', headers: as('k-acme'), payload: { ...hook, enabled: false } })).statusCode).toBe(200)
    expect((await app.inject({ method: 'DELETE', url: '/v1/notification-channels/ops', headers: as('k-acme') })).statusCode).toBe(204)
    expect((await app.inject({ url: '/v1/notifications', headers: as('k-globex', { 'x-sluice-tenant': 'acme' }) })).statusCode).toBe(403)
    const audit = (await rows()).filter((r) => r.action.startsWith('channel.'))
    expect(audit.map((r) => [r.action, r.outcome, r.tenant, r.key_id, r.target])).toEqual([
      ['channel.create', 'ok', 'acme', 'acme-ops', 'ops'],
      ['channel.update', 'ok', 'acme', 'acme-ops', 'ops'],
      ['channel.delete', 'ok', 'acme', 'acme-ops', 'ops'],
    ])
    expect(JSON.stringify(audit)).not.toContain('hooks.example')
  })
})
