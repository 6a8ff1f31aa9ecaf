// The one consumer runner every consuming service uses: decode → buffer → sink → commit.
//
// - Records are decoded one by one (`decode`) or a chunk at a time (`decodeBatch`, e.g. on another
//   thread; the next chunk is already decoding while one is buffered). A record that cannot be
//   decoded goes to the DLQ (acked before its offset can be committed) and never blocks its
//   partition. Retryable decode failures (registry unreachable) are retried instead.
// - Decoded items are buffered across partitions and flushed to the sink when `maxBatchRecords`
//   is reached or the oldest item is `flushIntervalMs` old. Decoding goes on while a flush is in
//   flight; a second full buffer waits for it.
// - Offsets are committed only after the sink resolved (output durable): at-least-once. A failing
//   sink is retried with exponential backoff, without committing, heartbeating meanwhile.
// - After a rebalance, buffered items of partitions this member lost are dropped: the new owner
//   re-reads them from the committed offset. Duplicates are absorbed downstream by `id`.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { errorMessage, isSluiceError } from '@sluice/core'
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS, counter, gauge, histogram, stageMetrics } from '@sluice/observability'
import type { DeadLetter, DeadLetterQueue } from './dlq.js'

export interface DecodeContext {
  topic: string
  partition: number
}

/** One record's decode outcome, in a chunk decoded at once. */
export type Decoded<T> = { item: T } | { error: unknown }

export interface BatchConsumerOptions<T> {
  kafka: Kafka
  groupId: string
  topics: readonly string[]
  /** Stage name for metrics, logs and DLQ headers. */
  stage: string
  fromBeginning?: boolean
  /** One record at a time. Throws for a record that cannot be decoded. Give this or decodeBatch. */
  decode?: (message: KafkaMessage, ctx: DecodeContext) => Promise<T> | T
  /**
   * A chunk of records at once, one outcome per record, in order. Rejecting as a whole (say, the
   * thread doing the work died) retries the chunk after a backoff; nothing goes to the DLQ.
   */
  decodeBatch?: (messages: KafkaMessage[], ctx: DecodeContext) => Promise<Decoded<T>[]>
  /** Records per decodeBatch call. Default 1000. */
  decodeChunkRecords?: number
  /** decodeBatch calls in flight at once, so a decoder on another thread never waits for work (kafkajs fetching and parsing the next batch included). Default 16. */
  decodeAheadChunks?: number
  /** Makes the items durable; resolves only when they are. */
  sink: (items: T[]) => Promise<void>
  dlq: DeadLetterQueue
  logger: Logger
  registry: Registry
  maxBatchRecords?: number
  flushIntervalMs?: number
  retryInitialMs?: number
  retryMaxMs?: number
  sessionTimeoutMs?: number
  /**
   * Flush as soon as a fetched batch leaves its partition caught up, instead of waiting for the
   * interval: lowest latency when traffic is light, full batches under a backlog. For sinks where
   * small writes are expensive (ClickHouse parts) leave it off.
   */
  flushWhenCaughtUp?: boolean
}

interface PartitionBuffer<T> {
  topic: string
  partition: number
  items: T[]
  /** Records consumed into this buffer, dead letters included. */
  count: number
  nextOffset: string
}

const STOP = Symbol('stop')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class BatchConsumer<T> {
  readonly #o: Required<Omit<BatchConsumerOptions<T>, 'fromBeginning' | 'decode' | 'decodeBatch'>> & { fromBeginning: boolean }
  readonly #batchDecoder: boolean
  readonly #decodeChunk: (messages: KafkaMessage[], ctx: DecodeContext) => Promise<Decoded<T>[]>
  readonly #consumer: Consumer
  readonly #log: Logger
  readonly #metrics
  #buffers = new Map<string, PartitionBuffer<T>>()
  #buffered = 0
  #oldestAt = 0
  #flushing: Promise<void> = Promise.resolve()
  #heartbeat: (() => Promise<void>) | null = null
  #timer: NodeJS.Timeout | null = null
  #closing = false
  #running = false
  /** Bumped at every rebalance: completions from before it are dropped. */
  #generation = 0
  /** Per partition, bumped when a chunk could not be buffered: later chunks are dropped. */
  #epochs = new Map<string, number>()
  #pipeline: Promise<void> = Promise.resolve()
  #inFlight = 0
  #slotFreed: (() => void)[] = []

  constructor(opts: BatchConsumerOptions<T>) {
    this.#o = {
      fromBeginning: true,
      maxBatchRecords: 10_000,
      flushIntervalMs: 1000,
      retryInitialMs: 200,
      retryMaxMs: 10_000,
      sessionTimeoutMs: 30_000,
      flushWhenCaughtUp: false,
      decodeChunkRecords: 1000,
      decodeAheadChunks: 16,
      ...opts,
    }
    const { decode, decodeBatch } = opts
    this.#batchDecoder = decodeBatch !== undefined
    if (decodeBatch) this.#decodeChunk = decodeBatch
    else if (decode) this.#decodeChunk = async (messages, ctx) => {
      const out: Decoded<T>[] = []
      for (const message of messages) {
        try {
          out.push({ item: await decode(message, ctx) })
        } catch (error) {
          out.push({ error })
        }
      }
      return out
    }
    else throw new Error('BatchConsumer needs decode or decodeBatch')
    this.#log = opts.logger.child({ component: 'consumer', group: opts.groupId })
    this.#consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: this.#o.sessionTimeoutMs,
      heartbeatInterval: 3000,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 32 * 1024 * 1024,
      maxWaitTimeInMs: Math.min(500, this.#o.flushIntervalMs),
      retry: { retries: 10 },
    })
    const r = opts.registry
    this.#metrics = {
      stage: stageMetrics(r, opts.stage),
      batchSize: histogram(r, 'sluice_consumer_flush_records', 'Records per sink flush.', BATCH_SIZE_BUCKETS, ['stage']),
      flushSeconds: histogram(r, 'sluice_consumer_flush_seconds', 'Time to make one flush durable, retries included.', LATENCY_BUCKETS_SECONDS, ['stage']),
      retries: counter(r, 'sluice_consumer_sink_retries_total', 'Sink attempts that failed and were retried.', ['stage']),
      lag: gauge(r, 'sluice_consumer_lag_records', 'Records between the high watermark and the last fetched offset.', ['group', 'topic', 'partition']),
      commits: counter(r, 'sluice_consumer_commits_total', 'Offset commits after durable flushes.', ['stage', 'result']),
    }
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (e) => this.#onAssignment(e.payload.memberAssignment))
  }

  get running(): boolean {
    return this.#running
  }

  async start(): Promise<void> {
    await this.#consumer.connect()
    for (const topic of this.#o.topics) await this.#consumer.subscribe({ topic, fromBeginning: this.#o.fromBeginning })
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#eachBatch(payload),
    })
    this.#running = true
    // The check runs at a quarter of the interval (5–250 ms), so a flush is at most that late.
    const tick = Math.min(250, Math.max(5, Math.floor(this.#o.flushIntervalMs / 4)))
    this.#timer = setInterval(() => {
      if (this.#buffered > 0 && Date.now() - this.#oldestAt >= this.#o.flushIntervalMs) void this.flush()
    }, tick)
  }

  /** Flushes what is buffered and commits it; serialised with every other flush. */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flushNow())
    return this.#flushing
  }

  /** Graceful stop: no new fetches, flush and commit what is buffered, leave the group. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    if (this.#timer) clearInterval(this.#timer)
    this.#consumer.pause(this.#o.topics.map((topic) => ({ topic })))
    // Everything decoding is buffered (or dropped) before the last flush.
    for (let p = this.#pipeline; ; p = this.#pipeline) {
      await p
      if (p === this.#pipeline) break
    }
    await this.flush()
    await this.#consumer.disconnect()
    this.#running = false
  }

  // Chunks are decoded ahead and completed in order on one chain (#pipeline), so eachBatch can
  // return while its last chunks are still decoding: kafkajs fetches and parses the next batch
  // meanwhile, and a decoder on another thread never runs dry. Their offsets are resolved at once
  // (kafkajs must not fetch them again) but committed only after a flush made them durable.
  // A completion is dropped if the group rebalanced (kafkajs resumes from the committed offset)
  // or its partition's epoch moved on (a chunk failed before it; see #complete).
  async #eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    const { topic, partition } = batch
    const ctx: DecodeContext = { topic, partition }
    const key = `${topic}\u0000${partition}`
    const generation = this.#generation
    const epoch = this.#epochs.get(key) ?? 0
    const current = () => !this.#closing && isRunning() && !isStale() && generation === this.#generation && epoch === (this.#epochs.get(key) ?? 0)
    const size = this.#o.decodeChunkRecords
    for (let i = 0; i < batch.messages.length && current(); i += size) {
      await this.#slot()
      if (!current()) {
        this.#release()
        break
      }
      const chunk = batch.messages.slice(i, i + size)
      const decoded = this.#decodeWhole(chunk, ctx)
      resolveOffset(chunk[chunk.length - 1]!.offset)
      this.#then(() => this.#complete(key, ctx, chunk, decoded, generation, epoch).finally(() => this.#release()))
    }
    const lag = batch.offsetLag()
    this.#metrics.lag.set({ group: this.#o.groupId, topic, partition: String(partition) }, Number(lag))
    if (this.#o.flushWhenCaughtUp && lag === '0') {
      this.#then(async () => {
        if (this.#buffered > 0 && generation === this.#generation && !this.#closing) await this.flush()
      })
    }
  }

  /** Appends a step to the completion chain; a failing step is logged, never stalls the chain. */
  #then(step: () => Promise<void>): void {
    this.#pipeline = this.#pipeline.then(step).catch((err: unknown) => this.#log.error({ err }, 'consumer pipeline step failed'))
  }

  /** Waits until fewer than `decodeAheadChunks` chunks are in flight, then takes a place. */
  async #slot(): Promise<void> {
    const ahead = this.#batchDecoder ? this.#o.decodeAheadChunks : 1
    while (this.#inFlight >= ahead) await new Promise<void>((r) => this.#slotFreed.push(r))
    this.#inFlight++
  }

  #release(): void {
    this.#inFlight--
    this.#slotFreed.shift()?.()
  }

  /** Buffers a decoded chunk (dead letters to the DLQ first); flushes when the buffer is full. */
  async #complete(key: string, ctx: DecodeContext, chunk: KafkaMessage[], decoded: Promise<Decoded<T>[] | undefined>, generation: number, epoch: number): Promise<void> {
    const stale = () => generation !== this.#generation || epoch !== (this.#epochs.get(key) ?? 0)
    const results = await decoded
    if (stale()) return
    try {
      // Undefined: shutting down while the chunk kept failing. It is neither buffered nor dead.
      if (!results) throw STOP
      const items: T[] = []
      const dead: DeadLetter[] = []
      for (let i = 0; i < chunk.length; i++) {
        const r = results[i]!
        const item = 'item' in r ? r.item : await this.#retryOne(chunk[i]!, ctx, r.error, dead)
        if (item === STOP) throw STOP
        if (item !== undefined) items.push(item)
      }
      // Dead letters are acked before their offsets can reach a flush (and so a commit).
      await this.#sendDead(dead, ctx)
      if (stale()) return
      let buf = this.#buffers.get(key)
      if (!buf) {
        buf = { topic: ctx.topic, partition: ctx.partition, items: [], count: 0, nextOffset: '0' }
        this.#buffers.set(key, buf)
      }
      for (const item of items) buf.items.push(item)
      buf.nextOffset = (BigInt(chunk[chunk.length - 1]!.offset) + 1n).toString()
      if (this.#buffered === 0) this.#oldestAt = Date.now()
      this.#buffered += chunk.length
      buf.count += chunk.length
      this.#metrics.stage.received.inc(chunk.length)
    } catch (err) {
      // Nothing after this chunk may be buffered (its offsets would commit past it): later chunks
      // of the partition are dropped, and unless shutting down it is fetched again from here.
      this.#epochs.set(key, epoch + 1)
      if (err === STOP || this.#closing) return
      this.#log.error({ err, topic: ctx.topic, partition: ctx.partition }, 'buffering a chunk failed; fetching it again')
      this.#consumer.seek({ topic: ctx.topic, partition: ctx.partition, offset: chunk[0]!.offset })
      return
    }
    if (this.#buffered >= this.#o.maxBatchRecords) {
      // One flush in flight while the next records decode; a second full buffer waits for it.
      await this.#flushing
      void this.flush()
    }
  }

  /** A chunk's outcomes; a whole-chunk failure is retried with backoff (undefined once closing). */
  async #decodeWhole(chunk: KafkaMessage[], ctx: DecodeContext): Promise<Decoded<T>[] | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#decodeChunk(chunk, ctx)
      } catch (err) {
        if (this.#closing) return undefined
        this.#metrics.stage.errors.inc({ code: isSluiceError(err) ? err.code : 'DECODE_FAILED' })
        this.#log.warn({ err, attempt, records: chunk.length }, 'decoding a chunk failed as a whole, retrying')
        await this.#backoff(attempt)
      }
    }
  }

  async #sendDead(dead: DeadLetter[], ctx: DecodeContext): Promise<DeadLetter[]> {
    if (dead.length === 0) return dead
    await this.#o.dlq.send(dead)
    this.#metrics.stage.dropped.inc({ reason: 'dlq' }, dead.length)
    this.#log.warn({ topic: ctx.topic, partition: ctx.partition, count: dead.length, first: dead[0]?.reason }, 'records sent to the DLQ')
    return []
  }

  /**
   * A record whose decode failed: retried while the failure is retryable, else a dead letter.
   * STOP when shutting down mid-retry: the record is neither buffered nor dead, so it is re-read.
   */
  async #retryOne(message: KafkaMessage, ctx: DecodeContext, error: unknown, dead: DeadLetter[]): Promise<T | undefined | typeof STOP> {
    let err = error
    for (let attempt = 0; isSluiceError(err) && err.canRetry; attempt++) {
      if (this.#closing) return STOP
      this.#metrics.stage.errors.inc({ code: err.code })
      this.#log.warn({ err, attempt }, 'retryable decode failure, retrying')
      await this.#backoff(attempt)
      const [r] = (await this.#decodeWhole([message], ctx)) ?? []
      if (!r) return STOP
      if ('item' in r) return r.item
      err = r.error
    }
    const code = isSluiceError(err) ? err.code : 'DECODE_FAILED'
    this.#metrics.stage.errors.inc({ code })
    dead.push({ topic: ctx.topic, partition: ctx.partition, message, code, reason: errorMessage(err) })
    return undefined
  }

  async #backoff(attempt: number): Promise<void> {
    const ms = Math.min(this.#o.retryMaxMs, this.#o.retryInitialMs * 2 ** attempt) * (0.8 + Math.random() * 0.4)
    await sleep(ms)
    await this.#heartbeat?.().catch(() => undefined)
  }

  async #flushNow(): Promise<void> {
    if (this.#buffers.size === 0) return
    const buffers = [...this.#buffers.values()]
    this.#buffers = new Map()
    this.#buffered = 0
    const items = buffers.flatMap((b) => b.items)
    const started = process.hrtime.bigint()
    if (items.length > 0) {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#o.sink(items)
          break
        } catch (err) {
          this.#metrics.retries.inc({ stage: this.#o.stage })
          this.#metrics.stage.errors.inc({ code: isSluiceError(err) ? err.code : 'SINK_FAILED' })
          if (this.#closing && attempt >= 2) {
            // Not committed: the next run re-reads these records.
            this.#log.error({ err, records: items.length }, 'sink still failing at shutdown; leaving offsets uncommitted')
            return
          }
          this.#log.warn({ err, attempt, records: items.length }, 'sink failed, retrying without committing')
          await this.#backoff(attempt)
        }
      }
      this.#metrics.batchSize.observe({ stage: this.#o.stage }, items.length)
      this.#metrics.flushSeconds.observe({ stage: this.#o.stage }, Number(process.hrtime.bigint() - started) / 1e9)
      this.#metrics.stage.sent.inc(items.length)
    }
    try {
      await this.#consumer.commitOffsets(buffers.map((b) => ({ topic: b.topic, partition: b.partition, offset: b.nextOffset })))
      this.#metrics.commits.inc({ stage: this.#o.stage, result: 'ok' })
    } catch (err) {
      // The data is durable; an uncommitted offset only means re-delivery, absorbed by `id`.
      this.#metrics.commits.inc({ stage: this.#o.stage, result: 'failed' })
      this.#log.warn({ err }, 'offset commit failed; records will be re-delivered')
    }
  }

  #onAssignment(assignment: Record<string, number[]>): void {
    this.#generation++
    for (const [key, buf] of this.#buffers) {
      if (!assignment[buf.topic]?.includes(buf.partition)) {
        this.#buffered -= buf.count
        this.#buffers.delete(key)
      }
    }
  }
}
