// A coalescing producer. kafkajs has no linger.ms: awaiting one send per request caps throughput
// at a few thousand records/s (kafkajs #772). Here callers enqueue records and get a promise
// that settles when *their* records are acknowledged; while one produce request is in flight
// the next batch accumulates, and it is sent as one request as soon as the previous one returns.
// With nothing in flight, records wait up to `lingerMs` for company unless `batchBytes` of them
// are queued already (Kafka's linger.ms and batch.size): a consumer's flush or a gateway request
// of hundreds of records leaves at once, a lone record waits. With an idempotent producer kafkajs
// needs one request in flight per connection, so coalescing is what makes the throughput.
import { Partitioners } from 'kafkajs'
import type { ICustomPartitioner, Kafka, Message, Producer, TopicMessages } from 'kafkajs'
import { SluiceError } from '@sluice/core'

/**
 * What services need of a producer: send records, resolved once Kafka acknowledged them. From then
 * on the caller may reuse the memory of the messages' keys and values (the gateway's encode
 * buffers): a producer keeps no reference to them past its acknowledgement.
 */
export interface MessageProducer {
  send(topic: string, messages: Message[]): Promise<void>
}

export interface BatchingProducerOptions {
  /**
   * Upper bound of one produce request, in bytes of key + value (+64 per record for framing).
   * Kept under the broker's default message.max.bytes (1 MiB), which bounds each partition's
   * record batch: a larger request can be refused as MESSAGE_TOO_LARGE.
   */
  maxBatchBytes?: number
  /** How long a lone record may wait for company before it is sent. Default 2. */
  lingerMs?: number
  /**
   * Queued bytes (counted as for maxBatchBytes) from which records are sent without lingering:
   * company would add little to a batch this large. Default 16 KiB, Kafka's batch.size.
   */
  batchBytes?: number
  /** A produce that has not been acknowledged by then fails with KAFKA_UNAVAILABLE. */
  produceTimeoutMs?: number
}

interface Pending {
  topic: string
  messages: Message[]
  bytes: number
  /** Timed out before it was sent: skipped, so a 503 mostly means "not written". */
  expired: boolean
  resolve: () => void
  reject: (err: Error) => void
}

/** Entries a topic's memo holds before it starts over. */
const PARTITION_MEMO_ENTRIES = 100_000

/**
 * kafkajs's default (murmur2) partitioner, memoised per topic and key: it hashes on emulated
 * 64-bit integers for every message, and our keys (tenant/service) repeat constantly. A topic's
 * memo is looked up by the key itself (no composite string to build and hash for every message:
 * that cost as much as the hashing it saved) and starts over when the partition count changes.
 * A Buffer key is looked up as one character per byte, in a map of its own, since a string key
 * is hashed as its UTF-8 bytes. Keyless messages keep the default behaviour.
 */
export const cachedDefaultPartitioner: ICustomPartitioner = () => {
  const partition = Partitioners.DefaultPartitioner()
  const topics = new Map<string, { partitions: number; byString: Map<string, number>; byBytes: Map<string, number> }>()
  return (args) => {
    const key = args.message.key
    if (args.message.partition !== undefined || key === null || key === undefined) return partition(args)
    let memo = topics.get(args.topic)
    if (memo === undefined || memo.partitions !== args.partitionMetadata.length) {
      memo = { partitions: args.partitionMetadata.length, byString: new Map(), byBytes: new Map() }
      topics.set(args.topic, memo)
    }
    const [map, k] = typeof key === 'string' ? [memo.byString, key] : [memo.byBytes, key.toString('latin1')]
    let p = map.get(k)
    if (p === undefined) {
      p = partition(args)
      if (map.size >= PARTITION_MEMO_ENTRIES) map.clear()
      map.set(k, p)
    }
    return p
  }
}

function messageBytes(m: Message): number {
  const v = m.value
  const k = m.key
  return (v ? (typeof v === 'string' ? Buffer.byteLength(v) : v.length) : 0) + (k ? (typeof k === 'string' ? k.length : k.length) : 0) + 64
}

export class BatchingProducer implements MessageProducer {
  readonly #newProducer: () => Producer
  #producer: Producer
  /** After a failed request kafkajs's idempotent sequence numbers may be out of step. */
  #needsReset = false
  readonly #maxBatchBytes: number
  readonly #lingerMs: number
  /** Queued bytes that are sent without lingering: batchBytes, or a whole request if smaller. */
  readonly #sendAtBytes: number
  readonly #produceTimeoutMs: number
  #queue: Pending[] = []
  #queuedBytes = 0
  #inFlight: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #connected = false

  constructor(kafka: Kafka, opts: BatchingProducerOptions = {}) {
    this.#newProducer = () => kafka.producer({
      idempotent: true,
      createPartitioner: cachedDefaultPartitioner,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 5 },
    })
    this.#producer = this.#newProducer()
    this.#maxBatchBytes = opts.maxBatchBytes ?? 1_000_000
    this.#lingerMs = opts.lingerMs ?? 2
    this.#sendAtBytes = Math.min(opts.batchBytes ?? 16 * 1024, this.#maxBatchBytes)
    this.#produceTimeoutMs = opts.produceTimeoutMs ?? 15_000
  }

  async connect(): Promise<void> {
    await this.#producer.connect()
    this.#connected = true
  }

  get connected(): boolean {
    return this.#connected
  }

  /** Resolves once every message is acknowledged by all in-sync replicas (acks=all). */
  send(topic: string, messages: Message[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve()
    // Larger than one request: queued as request-sized chunks that settle together.
    const chunks: Array<{ messages: Message[]; bytes: number }> = []
    let current: Message[] = []
    let bytes = 0
    for (const m of messages) {
      const b = messageBytes(m)
      if (current.length > 0 && bytes + b > this.#maxBatchBytes) {
        chunks.push({ messages: current, bytes })
        current = []
        bytes = 0
      }
      current.push(m)
      bytes += b
    }
    chunks.push({ messages: current, bytes })
    if (chunks.length === 1) return this.#enqueue(topic, current, bytes)
    return Promise.all(chunks.map((c) => this.#enqueue(topic, c.messages, c.bytes))).then(() => undefined)
  }

  #enqueue(topic: string, messages: Message[], bytes: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.expired = true
        reject(new SluiceError('KAFKA_UNAVAILABLE', `Kafka did not acknowledge within ${this.#produceTimeoutMs} ms`, { canRetry: true }))
      }, this.#produceTimeoutMs)
      const pending: Pending = {
        topic,
        messages,
        bytes,
        expired: false,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
        reject: (err) => {
          clearTimeout(timer)
          reject(err)
        },
      }
      this.#queue.push(pending)
      this.#queuedBytes += bytes
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#inFlight) return
    if (this.#queuedBytes >= this.#sendAtBytes || this.#lingerMs === 0) {
      this.#drain()
    } else if (!this.#timer) {
      this.#timer = setTimeout(() => this.#drain(), this.#lingerMs)
    }
  }

  #drain(): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#inFlight || this.#queue.length === 0) return
    const batch: Pending[] = []
    let bytes = 0
    while (this.#queue.length > 0 && (batch.length === 0 || bytes + this.#queue[0]!.bytes <= this.#maxBatchBytes)) {
      const p = this.#queue.shift()!
      bytes += p.bytes
      if (!p.expired) batch.push(p)
    }
    this.#queuedBytes -= bytes
    if (batch.length === 0) {
      if (this.#queue.length > 0) this.#drain()
      return
    }
    this.#inFlight = this.#produce(batch).finally(() => {
      this.#inFlight = null
      if (this.#queue.length > 0) this.#drain()
    })
  }

  async #produce(batch: Pending[]): Promise<void> {
    const byTopic = new Map<string, Message[]>()
    for (const p of batch) {
      const list = byTopic.get(p.topic)
      if (list) for (const m of p.messages) list.push(m)
      else byTopic.set(p.topic, p.messages.slice())
    }
    const topicMessages: TopicMessages[] = [...byTopic].map(([topic, messages]) => ({ topic, messages }))
    try {
      if (this.#needsReset) await this.#reset()
      await this.#producer.sendBatch({ topicMessages, acks: -1 })
      for (const p of batch) p.resolve()
    } catch (err) {
      // kafkajs rolls back the sequence numbers of every partition of a failed request, also of
      // those the broker wrote (a MESSAGE_TOO_LARGE on one partition then turns into
      // OUT_OF_ORDER_SEQUENCE_NUMBER forever): a fresh producer id starts clean.
      this.#needsReset = true
      const e = new SluiceError('KAFKA_UNAVAILABLE', `produce failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        canRetry: true,
      })
      for (const p of batch) p.reject(e)
    }
  }

  async #reset(): Promise<void> {
    const old = this.#producer
    this.#producer = this.#newProducer()
    void old.disconnect().catch(() => undefined)
    await this.#producer.connect()
    this.#needsReset = false
  }

  /** Sends what is queued, then disconnects. */
  async close(): Promise<void> {
    while (this.#inFlight || this.#queue.length > 0) {
      this.#drain()
      await this.#inFlight
    }
    this.#connected = false
    await this.#producer.disconnect()
  }
}
