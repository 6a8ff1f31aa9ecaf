// The alerter's state changelog: a compacted topic holding, per input partition, the latest
// checkpoint of that partition's evaluator together with the input offset it covers.
//
// Record: key   "<consumer group>|<input topic>|<partition>"
//         value gzip(JSON { v: 1, nextOffset: "<decimal>", state: EvaluatorSnapshot })
//
// A reader consumer in a group of its own tails the topic from the beginning, so whichever
// instance is assigned a partition (after a restart or a rebalance) restores its latest checkpoint
// once the reader has caught up with the topic's end; it never commits, and compaction keeps the
// topic at one record per partition.
import { randomUUID } from 'node:crypto'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { Logger } from 'pino'
import type { Consumer, Kafka } from 'kafkajs'
import type { BatchingProducer } from '@sluice/kafka'
import type { EvaluatorSnapshot } from './evaluator.js'

export interface Checkpoint {
  nextOffset: bigint
  state: EvaluatorSnapshot
}

interface Wire {
  v: 1
  nextOffset: string
  state: EvaluatorSnapshot
}

export function encodeCheckpoint(c: Checkpoint): Buffer {
  const wire: Wire = { v: 1, nextOffset: c.nextOffset.toString(), state: c.state }
  return gzipSync(JSON.stringify(wire))
}

export function decodeCheckpoint(bytes: Buffer): Checkpoint {
  const wire = JSON.parse(gunzipSync(bytes).toString('utf8')) as Wire
  if (wire.v !== 1) throw new Error(`unsupported alerter checkpoint version ${String(wire.v)}`)
  return { nextOffset: BigInt(wire.nextOffset), state: wire.state }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class StateStore {
  readonly #kafka: Kafka
  readonly #producer: BatchingProducer
  readonly #topic: string
  readonly #log: Logger
  readonly #latest = new Map<string, Buffer>()
  readonly #position = new Map<number, bigint>()
  #reader: Consumer | null = null

  constructor(opts: { kafka: Kafka; producer: BatchingProducer; topic: string; groupId: string; logger: Logger }) {
    this.#kafka = opts.kafka
    this.#producer = opts.producer
    this.#topic = opts.topic
    this.#log = opts.logger.child({ component: 'state-store' })
    this.#groupId = `${opts.groupId}.state-reader.${randomUUID()}`
  }

  readonly #groupId: string

  static key(groupId: string, topic: string, partition: number): string {
    return `${groupId}|${topic}|${partition}`
  }

  async start(): Promise<void> {
    const reader = this.#kafka.consumer({ groupId: this.#groupId, maxWaitTimeInMs: 100, retry: { retries: 10 } })
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
      if (Date.now() > deadline) throw new Error(`state topic ${this.#topic} not read to its end within ${timeoutMs} ms`)
      await sleep(25)
    }
  }

  get(key: string): Checkpoint | undefined {
    const bytes = this.#latest.get(key)
    if (bytes === undefined) return undefined
    try {
      return decodeCheckpoint(bytes)
    } catch (err) {
      // A checkpoint that cannot be read is not fatal: the partition starts from the committed offset with empty state.
      this.#log.error({ err, key }, 'unreadable alerter checkpoint ignored')
      return undefined
    }
  }

  /** Writes checkpoints; resolves when the broker acknowledged them. */
  async put(entries: Array<{ key: string; checkpoint: Checkpoint }>): Promise<number> {
    const messages = entries.map((e) => ({ key: e.key, value: encodeCheckpoint(e.checkpoint) }))
    await this.#producer.send(this.#topic, messages)
    let bytes = 0
    for (const m of messages) {
      this.#latest.set(m.key, m.value)
      bytes += m.value.length
    }
    return bytes
  }

  async close(): Promise<void> {
    await this.#reader?.disconnect()
    this.#reader = null
    // The reader group never committed; remove it so it does not linger in the broker's listing.
    const admin = this.#kafka.admin()
    try {
      await admin.connect()
      await admin.deleteGroups([this.#groupId])
    } catch {
      // best effort
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }
}
