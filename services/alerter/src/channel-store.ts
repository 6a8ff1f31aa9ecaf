// Notification channels made through the API, kept in a compacted topic so every alerter instance
// sees the same set: key "<tenant>|<name>", value the StoredChannel JSON (secrets sealed), a
// tombstone for a deleted channel. Each instance's reader applies every change, its own included,
// to its notifier; a write resolves once the broker has it and this instance applies it at once.
import type { Logger } from 'pino'
import { CompactedStore } from '@sluice/kafka'
import type { Kafka, MessageProducer } from '@sluice/kafka'
import { channelKey, openChannel, sealChannel } from './channels.js'
import type { ChannelSpec, StoredChannel } from './channels.js'
import type { SecretBox } from '@sluice/core'

export interface ChannelRecord {
  tenant: string
  spec: ChannelSpec
  created_at: string
  updated_at: string
}

export interface ChannelListener {
  set(tenant: string, spec: ChannelSpec): void
  remove(tenant: string, name: string): void
}

export class ChannelStore {
  readonly #store: CompactedStore
  readonly #box: SecretBox
  readonly #log: Logger
  readonly #listener: ChannelListener
  readonly #records = new Map<string, ChannelRecord>()
  /** Channels whose record could not be read (wrong key, a newer format): key → why. */
  readonly #broken = new Map<string, string>()

  constructor(opts: { kafka: Kafka; producer: MessageProducer; topic: string; groupId: string; box: SecretBox; listener: ChannelListener; logger: Logger }) {
    this.#box = opts.box
    this.#listener = opts.listener
    this.#log = opts.logger.child({ component: 'channel-store' })
    this.#store = new CompactedStore({
      kafka: opts.kafka,
      producer: opts.producer,
      topic: opts.topic,
      readerGroupPrefix: `${opts.groupId}.channels`,
      logger: opts.logger,
      onChange: (key, value) => this.#apply(key, value),
    })
  }

  async start(): Promise<void> {
    await this.#store.start()
    await this.#store.caughtUp(30_000)
  }

  get(tenant: string, name: string): ChannelRecord | undefined {
    return this.#records.get(channelKey(tenant, name))
  }

  list(tenant: string): ChannelRecord[] {
    return [...this.#records.values()].filter((r) => r.tenant === tenant).sort((a, b) => a.spec.name.localeCompare(b.spec.name))
  }

  /** Channels of a tenant that could not be opened, with why. */
  broken(tenant: string): Array<{ name: string; error: string }> {
    return [...this.#broken].filter(([k]) => k.startsWith(`${tenant}|`)).map(([k, error]) => ({ name: k.slice(tenant.length + 1), error }))
  }

  /** Creates or replaces a channel; resolves once it is durable and applied here. */
  async put(tenant: string, spec: ChannelSpec): Promise<ChannelRecord> {
    const key = channelKey(tenant, spec.name)
    const now = new Date().toISOString()
    const stored = sealChannel(this.#box, tenant, spec, { created_at: this.#records.get(key)?.created_at ?? now, updated_at: now })
    const value = Buffer.from(JSON.stringify(stored))
    await this.#store.put([{ key, value }])
    this.#apply(key, value)
    return this.#records.get(key)!
  }

  async delete(tenant: string, name: string): Promise<void> {
    const key = channelKey(tenant, name)
    await this.#store.delete([key])
    this.#apply(key, null)
  }

  close(): Promise<void> {
    return this.#store.close()
  }

  #apply(key: string, value: Buffer | null): void {
    const sep = key.indexOf('|')
    const tenant = key.slice(0, sep)
    const name = key.slice(sep + 1)
    if (value === null) {
      this.#broken.delete(key)
      if (this.#records.delete(key)) this.#listener.remove(tenant, name)
      return
    }
    let record: ChannelRecord
    try {
      const stored = JSON.parse(value.toString('utf8')) as StoredChannel
      if (stored.v !== 1) throw new Error(`unsupported channel record version ${String(stored.v)}`)
      record = { tenant: stored.tenant, spec: openChannel(this.#box, stored), created_at: stored.created_at, updated_at: stored.updated_at }
    } catch (err) {
      // One unreadable channel must not stop the others; it is reported on the API.
      const error = err instanceof Error ? err.message : String(err)
      this.#broken.set(key, error)
      if (this.#records.delete(key)) this.#listener.remove(tenant, name)
      this.#log.error({ channel: key, error }, 'notification channel cannot be read; it is not used')
      return
    }
    this.#broken.delete(key)
    const previous = this.#records.get(key)
    // Own writes come back through the reader: apply a change once.
    if (previous !== undefined && previous.updated_at === record.updated_at) return
    this.#records.set(key, record)
    this.#listener.set(tenant, record.spec)
  }
}
