// The alerter's state changelog: a compacted topic holding, per input partition, the latest
// checkpoint of that partition's evaluator together with the input offset it covers.
//
// Record: key   "<consumer group>|<input topic>|<partition>"
//         value gzip(JSON { v: 1, nextOffset: "<decimal>", state: EvaluatorSnapshot })
// The JSON is made synchronously (the state must not change under it); gzip runs on the libuv pool.
//
// Whichever instance is assigned a partition (after a restart or a rebalance) restores its latest
// checkpoint once the store's reader has caught up with the topic's end.
import { promisify } from 'node:util'
import { gunzipSync, gzip } from 'node:zlib'
import type { Logger } from 'pino'
import { CompactedStore } from '@sluice/kafka'
import type { Kafka, MessageProducer } from '@sluice/kafka'
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

const gzipAsync = promisify(gzip)

/** The checkpoint's JSON text; StateStore.put compresses it. */
export function encodeCheckpoint(c: Checkpoint): string {
  const wire: Wire = { v: 1, nextOffset: c.nextOffset.toString(), state: c.state }
  return JSON.stringify(wire)
}

export function decodeCheckpoint(bytes: Buffer): Checkpoint {
  const wire = JSON.parse(gunzipSync(bytes).toString('utf8')) as Wire
  if (wire.v !== 1) throw new Error(`unsupported alerter checkpoint version ${String(wire.v)}`)
  return { nextOffset: BigInt(wire.nextOffset), state: wire.state }
}

/** Where the alerter keeps its checkpoints (StateStore; tests use an in-memory one). */
export interface CheckpointStore {
  start(): Promise<void>
  /** Resolves once everything written before the call can be read. */
  caughtUp(timeoutMs: number): Promise<void>
  get(key: string): Checkpoint | undefined
  /** Writes checkpoints; resolves when they are durable, with the bytes written. */
  put(entries: Array<{ key: string; json: string }>): Promise<number>
  close(): Promise<void>
}

export class StateStore implements CheckpointStore {
  readonly #store: CompactedStore
  readonly #log: Logger

  constructor(opts: { kafka: Kafka; producer: MessageProducer; topic: string; groupId: string; logger: Logger }) {
    this.#log = opts.logger.child({ component: 'state-store' })
    this.#store = new CompactedStore({ kafka: opts.kafka, producer: opts.producer, topic: opts.topic, readerGroupPrefix: `${opts.groupId}.state`, logger: opts.logger })
  }

  static key(groupId: string, topic: string, partition: number): string {
    return `${groupId}|${topic}|${partition}`
  }

  start(): Promise<void> {
    return this.#store.start()
  }

  caughtUp(timeoutMs: number): Promise<void> {
    return this.#store.caughtUp(timeoutMs)
  }

  get(key: string): Checkpoint | undefined {
    const bytes = this.#store.get(key)
    if (bytes === undefined) return undefined
    try {
      return decodeCheckpoint(bytes)
    } catch (err) {
      // Not fatal: the partition starts from the committed offset with empty state.
      this.#log.error({ err, key }, 'unreadable alerter checkpoint ignored')
      return undefined
    }
  }

  /** Writes checkpoints; resolves when the broker acknowledged them. Returns the bytes written. */
  async put(entries: Array<{ key: string; json: string }>): Promise<number> {
    const values = await Promise.all(entries.map(async (e) => ({ key: e.key, value: await gzipAsync(e.json) })))
    return this.#store.put(values)
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}
