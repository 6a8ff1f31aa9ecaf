// The one consumer runner every consuming service uses: decode → buffer → sink → commit.
//
// - Records are decoded one by one; a record that cannot be decoded goes to the DLQ (acked before
//   its offset can be committed) and never blocks its partition. Retryable decode failures
//   (registry unreachable) are retried instead.
// - Decoded items are buffered across partitions and flushed to the sink when `maxBatchRecords`
//   is reached or the oldest item is `flushIntervalMs` old.
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

export interface BatchConsumerOptions<T> {
  kafka: Kafka
  groupId: string
  topics: readonly string[]
  /** Stage name for metrics, logs and DLQ headers. */
  stage: string
  fromBeginning?: boolean
  decode: (message: KafkaMessage, ctx: DecodeContext) => Promise<T> | T
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class BatchConsumer<T> {
  readonly #o: Required<Omit<BatchConsumerOptions<T>, 'fromBeginning'>> & { fromBeginning: boolean }
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

  constructor(opts: BatchConsumerOptions<T>) {
    this.#o = {
      fromBeginning: true,
      maxBatchRecords: 10_000,
      flushIntervalMs: 1000,
      retryInitialMs: 200,
      retryMaxMs: 10_000,
      sessionTimeoutMs: 30_000,
      flushWhenCaughtUp: false,
      ...opts,
    }
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
    await this.flush()
    await this.#consumer.disconnect()
    this.#running = false
  }

  async #eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    const { topic, partition } = batch
    const ctx: DecodeContext = { topic, partition }
    const key = `${topic}\u0000${partition}`
    let dead: DeadLetter[] = []
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) break
      const item = await this.#decodeWithRetry(message, ctx, dead)
      this.#metrics.stage.received.inc()
      let buf = this.#buffers.get(key)
      if (!buf) {
        buf = { topic, partition, items: [], count: 0, nextOffset: '0' }
        this.#buffers.set(key, buf)
      }
      if (item !== undefined) buf.items.push(item)
      buf.nextOffset = (BigInt(message.offset) + 1n).toString()
      if (this.#buffered === 0) this.#oldestAt = Date.now()
      this.#buffered++
      buf.count++
      // Only what was decoded is resolved: an interrupted batch is fetched again from here.
      resolveOffset(message.offset)
      if (this.#buffered >= this.#o.maxBatchRecords) {
        // Dead letters first: their offsets are about to be committed with the flush.
        dead = await this.#sendDead(dead, ctx)
        await this.flush()
      }
    }
    await this.#sendDead(dead, ctx)
    const lag = batch.offsetLag()
    this.#metrics.lag.set({ group: this.#o.groupId, topic, partition: String(partition) }, Number(lag))
    if (this.#o.flushWhenCaughtUp && lag === '0' && this.#buffered > 0 && isRunning() && !isStale()) await this.flush()
  }

  async #sendDead(dead: DeadLetter[], ctx: DecodeContext): Promise<DeadLetter[]> {
    if (dead.length === 0) return dead
    await this.#o.dlq.send(dead)
    this.#metrics.stage.dropped.inc({ reason: 'dlq' }, dead.length)
    this.#log.warn({ topic: ctx.topic, partition: ctx.partition, count: dead.length, first: dead[0]?.reason }, 'records sent to the DLQ')
    return []
  }

  async #decodeWithRetry(message: KafkaMessage, ctx: DecodeContext, dead: DeadLetter[]): Promise<T | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#o.decode(message, ctx)
      } catch (err) {
        if (isSluiceError(err) && err.canRetry && !this.#closing) {
          this.#metrics.stage.errors.inc({ code: err.code })
          this.#log.warn({ err, attempt }, 'retryable decode failure, retrying')
          await this.#backoff(attempt)
          continue
        }
        const code = isSluiceError(err) ? err.code : 'DECODE_FAILED'
        this.#metrics.stage.errors.inc({ code })
        dead.push({ topic: ctx.topic, partition: ctx.partition, message, code, reason: errorMessage(err) })
        return undefined
      }
    }
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
    for (const [key, buf] of this.#buffers) {
      if (!assignment[buf.topic]?.includes(buf.partition)) {
        this.#buffered -= buf.count
        this.#buffers.delete(key)
      }
    }
  }
}
