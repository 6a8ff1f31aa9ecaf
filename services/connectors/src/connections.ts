// Connections as data: what the API takes (a name, a provider and its settings, how to poll), how
// a connection is kept (the compacted TOPIC_CONNECTIONS, credentials sealed with the encryption
// key, the tenant and id as the record key) and what the API shows (never a credential). Every
// instance reads every connection; which instance runs it is the leases' business (service.ts).
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { SecretBox } from '@sluice/core'
import { CompactedStore } from '@sluice/kafka'
import type { Kafka, MessageProducer } from '@sluice/kafka'
import { PROVIDERS } from './providers/index.js'
import { PROVIDER_KINDS } from './provider.js'
import type { ProviderKind } from './provider.js'

export const connectionInput = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)'),
  provider: z.enum(PROVIDER_KINDS),
  settings: z.record(z.string(), z.unknown()),
  /** Started (polling) or stopped. */
  enabled: z.boolean().default(true),
  /** Default CONNECTORS_POLL_INTERVAL_MS. */
  poll_interval_ms: z.number().int().min(1000).max(3_600_000).optional(),
  /** Default CONNECTORS_LOOKBACK_MS. */
  lookback_ms: z.number().int().min(0).max(86_400_000).optional(),
  /** Where a new connection starts reading (RFC 3339, 1970 or later); default CONNECTORS_START_LOOKBACK_MS before its creation. */
  start_at: z.iso
    .datetime({ offset: true })
    // Providers take epoch times: an earlier start would fail every poll.
    .refine((t) => Date.parse(t) >= 0, 'expected a time in 1970 or later')
    .optional(),
})
export type ConnectionInput = z.output<typeof connectionInput>

export interface Connection {
  id: string
  tenant: string
  name: string
  provider: ProviderKind
  /** Every setting, credentials included (in memory only). */
  settings: Record<string, unknown>
  enabled: boolean
  poll_interval_ms: number | null
  lookback_ms: number | null
  start_at: string
  created_at: string
  updated_at: string
}

interface Stored extends Omit<Connection, 'settings'> {
  v: 1
  settings: Record<string, unknown>
  sealed: string | null
}

export const connectionKey = (tenant: string, id: string): string => `${tenant}|${id}`

/** Validates settings with the provider's schema: the parsed settings, or the issues as "settings.x: …". */
export function parseSettings(provider: ProviderKind, settings: unknown): { ok: true; settings: Record<string, unknown> } | { ok: false; message: string } {
  const r = PROVIDERS[provider].settingsSchema.safeParse(settings)
  if (r.success) return { ok: true, settings: r.data as Record<string, unknown> }
  return { ok: false, message: r.error.issues.map((i) => `settings.${i.path.join('.')}: ${i.message}`).join('; ') }
}

/** What the API shows: the settings without their secrets, and which secrets are set. */
export function showConnection(c: Connection): Record<string, unknown> {
  const secret = new Set(PROVIDERS[c.provider].secretFields)
  const settings = Object.fromEntries(Object.entries(c.settings).filter(([k]) => !secret.has(k)))
  const secretsSet = Object.keys(c.settings).filter((k) => secret.has(k) && c.settings[k] !== undefined)
  return { ...c, settings, secrets_set: secretsSet.sort() }
}

/**
 * An update's settings completed with the stored secrets it leaves out (same provider only). A
 * secret given as null is removed; a secret tied to another setting (AWS's sessionToken to its
 * accessKeyId) is not kept once that setting changes.
 */
export function withKeptSecrets(provider: ProviderKind, settings: Record<string, unknown>, previous: Connection | undefined): Record<string, unknown> {
  const p = PROVIDERS[provider]
  const out = { ...settings }
  const removed = new Set<string>()
  for (const k of p.secretFields) {
    if (out[k] !== null) continue
    delete out[k]
    removed.add(k)
  }
  if (previous === undefined || previous.provider !== provider) return out
  for (const k of p.secretFields) {
    if (removed.has(k) || out[k] !== undefined || previous.settings[k] === undefined) continue
    const tiedTo = p.secretTiedTo?.[k]
    if (tiedTo !== undefined && out[tiedTo] !== previous.settings[tiedTo]) continue
    out[k] = previous.settings[k]
  }
  return out
}

export interface ConnectionListener {
  set(c: Connection): void
  remove(tenant: string, id: string): void
}

export class ConnectionStore {
  readonly #store: CompactedStore
  readonly #box: SecretBox
  readonly #log: Logger
  readonly #listener: ConnectionListener
  readonly #all = new Map<string, Connection>()
  readonly #broken = new Map<string, string>()

  constructor(opts: { kafka: Kafka; producer: MessageProducer; topic: string; groupId: string; box: SecretBox; listener: ConnectionListener; logger: Logger }) {
    this.#box = opts.box
    this.#listener = opts.listener
    this.#log = opts.logger.child({ component: 'connections' })
    this.#store = new CompactedStore({ kafka: opts.kafka, producer: opts.producer, topic: opts.topic, readerGroupPrefix: `${opts.groupId}.connections`, logger: opts.logger, onChange: (k, v) => this.#apply(k, v) })
  }

  /** Reads every connection; re-seals those sealed with a previous key (finishing a rotation). */
  async start(): Promise<void> {
    await this.#store.start()
    await this.#store.caughtUp(30_000)
    for (const [key, value] of this.#store.entries()) {
      const stored = JSON.parse(value.toString('utf8')) as Stored
      const c = this.#all.get(key)
      if (c !== undefined && stored.sealed !== null && this.#box.isStale(stored.sealed)) {
        await this.#write(c)
        this.#log.info({ connection: c.id, tenant: c.tenant }, 'credentials re-sealed with the current key')
      }
    }
  }

  get(tenant: string, id: string): Connection | undefined {
    return this.#all.get(connectionKey(tenant, id))
  }

  byName(tenant: string, name: string): Connection | undefined {
    for (const c of this.#all.values()) if (c.tenant === tenant && c.name === name) return c
    return undefined
  }

  list(tenant: string): Connection[] {
    return [...this.#all.values()].filter((c) => c.tenant === tenant).sort((a, b) => a.name.localeCompare(b.name))
  }

  all(): Connection[] {
    return [...this.#all.values()]
  }

  /** Connections of a tenant that cannot be opened (a key that is gone), with why. */
  broken(tenant: string): Array<{ id: string; error: string }> {
    return [...this.#broken].filter(([k]) => k.startsWith(`${tenant}|`)).map(([k, error]) => ({ id: k.slice(tenant.length + 1), error }))
  }

  async create(tenant: string, input: ConnectionInput, settings: Record<string, unknown>, startAt: string): Promise<Connection> {
    const now = new Date().toISOString()
    const c: Connection = {
      id: randomUUID(),
      tenant,
      name: input.name,
      provider: input.provider,
      settings,
      enabled: input.enabled,
      poll_interval_ms: input.poll_interval_ms ?? null,
      lookback_ms: input.lookback_ms ?? null,
      start_at: input.start_at ?? startAt,
      created_at: now,
      updated_at: now,
    }
    await this.#write(c)
    return c
  }

  async update(c: Connection): Promise<Connection> {
    // updated_at names the version (readers skip a record they already applied, pollers restart on
    // a new one), so it must move even when two changes fall in the same millisecond.
    const next = { ...c, updated_at: new Date(Math.max(Date.now(), Date.parse(c.updated_at) + 1)).toISOString() }
    await this.#write(next)
    return next
  }

  async delete(tenant: string, id: string): Promise<void> {
    const key = connectionKey(tenant, id)
    await this.#store.delete([key])
    this.#apply(key, null)
  }

  close(): Promise<void> {
    return this.#store.close()
  }

  async #write(c: Connection): Promise<void> {
    const secret = new Set(PROVIDERS[c.provider].secretFields)
    const secrets = Object.fromEntries(Object.entries(c.settings).filter(([k, v]) => secret.has(k) && v !== undefined))
    const key = connectionKey(c.tenant, c.id)
    const stored: Stored = {
      v: 1,
      ...c,
      settings: Object.fromEntries(Object.entries(c.settings).filter(([k]) => !secret.has(k))),
      sealed: Object.keys(secrets).length === 0 ? null : this.#box.seal(JSON.stringify(secrets), key),
    }
    const value = Buffer.from(JSON.stringify(stored))
    await this.#store.put([{ key, value }])
    this.#apply(key, value)
  }

  #apply(key: string, value: Buffer | null): void {
    const sep = key.indexOf('|')
    const tenant = key.slice(0, sep)
    const id = key.slice(sep + 1)
    if (value === null) {
      this.#broken.delete(key)
      if (this.#all.delete(key)) this.#listener.remove(tenant, id)
      return
    }
    let c: Connection
    try {
      const { v, sealed, ...rest } = JSON.parse(value.toString('utf8')) as Stored
      if (v !== 1) throw new Error(`unsupported connection record version ${String(v)}`)
      const secrets = sealed === null ? {} : (JSON.parse(this.#box.open(sealed, key)) as Record<string, unknown>)
      c = { ...rest, settings: { ...rest.settings, ...secrets } }
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      this.#broken.set(key, error)
      if (this.#all.delete(key)) this.#listener.remove(tenant, id)
      this.#log.error({ connection: key, error }, 'connection cannot be read; it is not run')
      return
    }
    this.#broken.delete(key)
    const previous = this.#all.get(key)
    if (previous !== undefined && previous.updated_at === c.updated_at) return
    this.#all.set(key, c)
    this.#listener.set(c)
  }
}
