// A key → bytes store kept in a compacted topic: the latest record per key is the value. Services
// checkpoint learned state here (the alerter's windows and alerts, the enricher's templates) so a
// restarted or newly assigned instance continues where the last one stopped.
//
// A reader consumer in a group of its own (random id, never commits, deleted on close) tails the
// topic from the beginning into memory; caughtUp() waits until it has read everything written
// before the call, so a get() after it sees the latest value even when another instance wrote it.
import { randomUUID } from 'node:crypto'
import type { Consumer, Kafka } from 'kafkajs'
import type { Logger } from 'pino'
import { deleteGroup } from './admin.js'
import type { MessageProducer } from './producer.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export interface CompactedStoreOptions {
  kafka: Kafka
  producer: MessageProducer
  topic: string
  /** Prefix of the reader's own consumer group. */
  readerGroupPrefix: string
  logger: Logger
  /**
   * Called for every record the reader reads (null: a tombstone), including this instance's own
   * writes when they come back, so a listener sees changes from every instance in topic order.
   */
  onChange?: (key: string, value: Buffer | null) => void
}

export class CompactedStore {
  readonly #kafka: Kafka
  readonly #producer: MessageProducer
  readonly #topic: string
  readonly #groupId: string
  readonly #log: Logger
  readonly #latest = new Map<string, Buffer>()
  readonly #position = new Map<number, bigint>()
  readonly #onChange: ((key: string, value: Buffer | null) => void) | undefined
  #reader: Consumer | null = null

  constructor(opts: CompactedStoreOptions) {
    this.#kafka = opts.kafka
    this.#producer = opts.producer
    this.#topic = opts.topic
    this.#groupId = `${opts.readerGroupPrefix}.reader.${randomUUID()}`
    this.#onChange = opts.onChange
    this.#log = opts.logger.child({ component: 'compacted-store', topic: opts.topic })
  }

  async start(): Promise<void> {
    // The broker answers a fetch as soon as a record arrives; the wait only bounds an idle poll
    // (and how long a disconnect may wait for it): a second keeps idle readers, several per
    // process, cheap without costing latency.
    const reader = this.#kafka.consumer({ groupId: this.#groupId, maxWaitTimeInMs: 1000, maxBytesPerPartition: 16 * 1024 * 1024, retry: { retries: 10 } })
    this.#reader = reader
    await reader.connect()
    await reader.subscribe({ topic: this.#topic, fromBeginning: true })
    await reader.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          const key = m.key?.toString('utf8')
          if (key !== undefined) {
            if (m.value === null) this.#latest.delete(key)
            else this.#latest.set(key, m.value)
            try {
              this.#onChange?.(key, m.value)
            } catch (err) {
              this.#log.error({ err, key }, 'compacted store listener failed')
            }
          }
          this.#position.set(batch.partition, BigInt(m.offset) + 1n)
        }
      },
    })
  }

  /** Resolves once the reader has read everything written to the topic before this call. */
  async caughtUp(timeoutMs: number): Promise<void> {
    const admin = this.#kafka.admin()
    await admin.connect()
    let ends: Array<{ partition: number; high: string; low: string }>
    try {
      ends = await admin.fetchTopicOffsets(this.#topic)
    } finally {
      await admin.disconnect()
    }
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const behind = ends.filter((e) => BigInt(e.high) > BigInt(e.low) && (this.#position.get(e.partition) ?? BigInt(e.low)) < BigInt(e.high))
      if (behind.length === 0) return
      if (Date.now() > deadline) throw new Error(`${this.#topic} not read to its end within ${timeoutMs} ms`)
      await sleep(25)
    }
  }

  get(key: string): Buffer | undefined {
    return this.#latest.get(key)
  }

  /** Every key and its latest value. */
  entries(): IterableIterator<[string, Buffer]> {
    return this.#latest.entries()
  }

  /** Deletes keys (tombstones); resolves when the broker acknowledged them. */
  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return
    await this.#producer.send(this.#topic, keys.map((key) => ({ key, value: null })))
    for (const key of keys) this.#latest.delete(key)
  }

  /** Writes values; resolves when the broker acknowledged them. Returns the bytes written. */
  async put(entries: ReadonlyArray<{ key: string; value: Buffer }>): Promise<number> {
    await this.#producer.send(this.#topic, entries.map((e) => ({ key: e.key, value: e.value })))
    let bytes = 0
    for (const e of entries) {
      this.#latest.set(e.key, e.value)
      bytes += e.value.length
    }
    return bytes
  }

  async close(): Promise<void> {
    await this.#reader?.disconnect()
    this.#reader = null
    if (!(await deleteGroup(this.#kafka, this.#groupId))) this.#log.debug({ group: this.#groupId }, 'reader group not deleted')
  }
}
