// The consumer runner: one Kafka consumer (the source) feeding one or more stages (stage.ts). Every
// consuming service runs on it; co-located stages reading the same topic share one runner, so a
// record is fetched and decoded once for all of them.
//
// Per fetched batch (one partition), in chunks:
//   start     decode the chunk once (undecodable records → DLQ, retryable failures retried), then
//             call each stage's transform — in order, on one chain, so stateful transforms see
//             records in offset order; a transform on worker threads works while the next batch
//             is fetched (up to `chunksInFlight` chunks in flight).
//   complete  in the same order: dead letters acked first, outputs buffered per stage.
//   flush     per stage, when `maxRecords` are buffered or the oldest is `intervalMs` old (and, for
//             a `whenCaughtUp` stage, once a fetch that caught a partition up is all buffered): the
//             sink makes them durable (retried with backoff, never skipped); one flush in flight
//             while the next chunks are transformed, a second full buffer waits for it, and at
//             most one more waits behind it (it takes every buffer when it starts).
//   commit    a partition's offset is committed once every stage of the runner has it durable:
//             through its sink, or for a stateful stage through its checkpoint. At-least-once.
// Rebalances: buffered outputs of partitions this member lost are dropped (their new owner re-reads
// them from the committed offset); stateful stages restore and drop partition state. A live runner
// (ws-fanout) reads from the latest offsets, never commits and skips what it cannot decode.
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { errorMessage, isSluiceError } from '@sluice/core'
import { BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_SECONDS, counter, gauge, histogram } from '@sluice/observability'
import type { DeadLetter, DeadLetterSink } from './dlq.js'
import type { Batch, RecordDecoder, Stage, TopicPartitionOffset, Transformed } from './stage.js'
import { StageTelemetry, codeOf } from './telemetry.js'

export interface RunnerOptions {
  kafka: Kafka
  /** Label of the runner in its logs and commit metrics (its stages' names). */
  name: string
  groupId: string
  topics: readonly string[]
  /**
   * The stages, each with a decoder per topic (a topic without one hands the stage the value
   * bytes). Each distinct decoder decodes a chunk once, for every stage that uses it.
   */
  stages: ReadonlyArray<{ stage: Stage<unknown, unknown>; decoders?: Readonly<Record<string, RecordDecoder<unknown>>> }>
  /** Where undecodable and refused records go. Required unless live. */
  dlq?: DeadLetterSink
  /** A live view: starts at the latest offsets, never commits, skips undecodable records. */
  live?: boolean
  /** Where a group without committed offsets starts. Default: the beginning (live: the end). */
  fromBeginning?: boolean
  sessionTimeoutMs?: number
  /** Records per chunk. Default 1000. */
  chunkRecords?: number
  /** Chunks started but not yet buffered. Default 16. */
  chunksInFlight?: number
  retryInitialMs?: number
  retryMaxMs?: number
  logger: Logger
  registry: Registry
}

interface PartitionBuffer {
  topic: string
  partition: number
  outputs: unknown[]
  /** Records consumed into this buffer (dead letters included). */
  records: number
  nextOffset: bigint
}

/** A stage inside the runner: its buffers, positions and telemetry. */
interface StageRun {
  stage: Stage<unknown, unknown>
  decoders: Readonly<Record<string, RecordDecoder<unknown>>>
  tel: StageTelemetry
  buffers: Map<string, PartitionBuffer>
  buffered: number
  oldestAt: number
  flushing: Promise<void>
  /** A flush waiting for the one in flight, not started yet: it will take every buffer. */
  queued: Promise<void> | undefined
  /** Per partition: the next offset this stage has durable. */
  durable: Map<string, bigint>
  /** Stateful stages: per partition, records below this offset are in the restored state already. */
  skipBelow: Map<string, bigint>
  opened: Set<string>
  lastCheckpointAt: number
  checkpointing: boolean
  writes: Promise<void>
}

interface Decoded {
  records: KafkaMessage[]
  values: unknown[]
  /** What could not be decoded (stage not yet set). */
  dead: Array<Omit<DeadLetter, 'stage'>>
}

interface Started {
  dead: DeadLetter[]
  /** One per stage, in order: its batch and what its transform gave (or is computing). */
  results: Array<{ batch: Batch<unknown>; out: Transformed<unknown> | Promise<Transformed<unknown>> }>
}

/** A fetch response: its chunks not yet buffered, and whether one of its batches left its partition caught up. */
interface FetchProgress {
  pending: number
  caughtUp: boolean
}

/** A chunk abandoned (shutting down, rebalanced, or fetched again from an earlier offset). */
const STALE = Symbol('stale')

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`
/** How far before noticing someone watch a live runner reads from: records stamped by other hosts' clocks. */
const LIVE_MARGIN_MS = 100

export class ConsumerRunner {
  readonly #o: Required<Omit<RunnerOptions, 'dlq' | 'live' | 'fromBeginning'>> & { live: boolean; fromBeginning: boolean }
  readonly #dlq: DeadLetterSink | undefined
  readonly #stages: StageRun[]
  readonly #consumer: Consumer
  readonly #log: Logger
  readonly #metrics
  #running = false
  #closing = false
  #timer: NodeJS.Timeout | undefined
  #heartbeat: (() => Promise<void>) | undefined
  /** Bumped at every rebalance: chunks from before it are dropped. */
  #generation = 0
  /** Per partition, bumped when a chunk failed or a seek moved the position: later chunks are dropped. */
  readonly #epochs = new Map<string, number>()
  #starting: Promise<unknown> = Promise.resolve()
  #completing: Promise<void> = Promise.resolve()
  #inFlight = 0
  readonly #slotFreed: Array<() => void> = []
  readonly #committed = new Map<string, bigint>()
  #commits: Promise<void> = Promise.resolve()
  /** The partitions assigned to this member. */
  #assigned: Array<{ topic: string; partition: number }> = []
  /** The latest fetch response: the eachBatch calls until the next one hand over its batches. */
  #fetch: FetchProgress = { pending: 0, caughtUp: false }
  /** A live runner whose stages are all idle: fetching nothing. */
  #idle = false
  #waking = false
  /**
   * A live runner watched (a stage not idle): since when, in ms, less the tick and a margin. It
   * reads from the records stamped since then, not from the end as it was once Kafka answered:
   * what was sent right after someone started watching is theirs to see.
   */
  #liveSince: number | undefined
  #tickMs = 250

  constructor(opts: RunnerOptions) {
    const live = opts.live ?? false
    if (opts.stages.length === 0) throw new Error(`runner ${opts.name} has no stages`)
    if (!live && !opts.dlq) throw new Error(`runner ${opts.name} commits offsets and needs a dead-letter queue`)
    this.#o = {
      sessionTimeoutMs: 30_000,
      chunkRecords: 1000,
      chunksInFlight: 16,
      retryInitialMs: 200,
      retryMaxMs: 10_000,
      ...opts,
      live,
      fromBeginning: opts.fromBeginning ?? !live,
    }
    this.#dlq = opts.dlq
    this.#log = opts.logger.child({ component: 'consumer', group: opts.groupId })
    this.#stages = opts.stages.map(({ stage, decoders }) => ({
      stage,
      decoders: decoders ?? {},
      tel: new StageTelemetry(opts.registry, opts.logger.child({ component: 'consumer', group: opts.groupId }), stage.name),
      buffers: new Map(),
      buffered: 0,
      oldestAt: 0,
      flushing: Promise.resolve(),
      queued: undefined,
      durable: new Map(),
      skipBelow: new Map(),
      opened: new Set(),
      lastCheckpointAt: Date.now(),
      checkpointing: false,
      writes: Promise.resolve(),
    }))
    this.#consumer = opts.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: this.#o.sessionTimeoutMs,
      heartbeatInterval: this.#heartbeatIntervalMs,
      // 1 MiB a partition (~1 700 enriched records) keeps each fetch response's live memory and
      // page faults small: ~0.5 µs less CPU per record than 8 MiB. A larger record still comes
      // (the broker always returns at least one batch).
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 16 * 1024 * 1024,
      // How long the broker holds a fetch that finds nothing new. Data ends the wait at once (the
      // minimum is one byte), so this costs no latency: it only sets how often an idle consumer
      // asks again. Flushes run on the runner's own timer. Tying it to the shortest flush interval
      // (20–50 ms) had a quiet enricher ask 20–50 times a second: at a hundred records a second
      // the broker used 21 % of a core (16 % now), the gateway + enricher process 28 % (25 %).
      maxWaitTimeInMs: 500,
      retry: { retries: 10 },
    })
    const r = opts.registry
    this.#metrics = {
      batchSize: histogram(r, 'sluice_consumer_flush_records', 'Records read per sink flush (dead-lettered ones included).', BATCH_SIZE_BUCKETS, ['stage']),
      flushSeconds: histogram(r, 'sluice_consumer_flush_seconds', 'Time to make one flush durable, retries included.', LATENCY_BUCKETS_SECONDS, ['stage']),
      retries: counter(r, 'sluice_consumer_sink_retries_total', 'Sink attempts that failed and were retried.', ['stage']),
      lag: gauge(r, 'sluice_consumer_lag_records', 'Records between the high watermark and the last fetched offset.', ['group', 'topic', 'partition']),
      commits: counter(r, 'sluice_consumer_commits_total', 'Offset commits after durable flushes.', ['stage', 'result']),
    }
    this.#consumer.on(this.#consumer.events.GROUP_JOIN, (e) => this.#onAssignment(e.payload.memberAssignment))
    this.#consumer.on(this.#consumer.events.FETCH, () => (this.#fetch = { pending: 0, caughtUp: false }))
  }

  get name(): string {
    return this.#o.name
  }

  /** A third of the session: two heartbeats may be lost before the group gives the member up. */
  get #heartbeatIntervalMs(): number {
    return Math.min(3000, Math.floor(this.#o.sessionTimeoutMs / 3))
  }

  get running(): boolean {
    return this.#running
  }

  async start(): Promise<void> {
    await this.#consumer.connect()
    await this.#consumer.subscribe({ topics: [...this.#o.topics], fromBeginning: this.#o.fromBeginning })
    await this.#consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: (payload) => this.#eachBatch(payload),
    })
    this.#running = true
    // Checked at a quarter of the shortest interval (5–250 ms): a flush is at most that late.
    const tick = Math.min(250, Math.max(5, Math.floor(Math.min(...this.#stages.map((s) => s.stage.flush.intervalMs)) / 4)))
    this.#tickMs = tick
    // Watched from the start (a stage that is never idle): from now.
    if (this.#o.live && !this.#stages.every((s) => s.stage.idle?.() ?? false)) this.#liveSince = Date.now()
    this.#timer = setInterval(() => this.#tick(), tick)
  }

  /** Flushes every stage and commits what became durable. */
  async flush(): Promise<void> {
    await Promise.all(this.#stages.map((s) => this.#flush(s)))
  }

  /** Graceful stop: no new fetches; what was fetched is transformed, flushed, checkpointed and committed. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    clearInterval(this.#timer)
    if (this.#running) this.#consumer.pause(this.#o.topics.map((topic) => ({ topic })))
    for (let p = this.#completing; ; p = this.#completing) {
      await Promise.all([this.#starting, p])
      if (p === this.#completing) break
    }
    await this.flush()
    for (const s of this.#stages) if (s.stage.state) await this.#checkpoint(s, true)
    await Promise.all(this.#stages.map((s) => s.writes))
    await this.#commits
    await this.#consumer.disconnect()
    this.#running = false
  }

  #tick(): void {
    if (this.#o.live) this.#idleOrNot()
    const now = Date.now()
    for (const s of this.#stages) {
      if (s.buffered > 0 && now - s.oldestAt >= s.stage.flush.intervalMs) void this.#flush(s)
      const state = s.stage.state
      if (state && !s.checkpointing && now - s.lastCheckpointAt >= state.checkpointIntervalMs) {
        s.checkpointing = true
        void this.#checkpoint(s, false).finally(() => {
          s.checkpointing = false
          s.lastCheckpointAt = Date.now()
        })
      }
    }
  }

  /** Now, less a tick (when the change was noticed) and LIVE_MARGIN_MS (clocks of other hosts). */
  #watchedFrom(): number {
    return Date.now() - this.#tickMs - LIVE_MARGIN_MS
  }

  /**
   * A live runner stops fetching while every stage is idle (nobody watching), and when one no
   * longer is, skips what arrived meanwhile: a live view starts when someone started watching
   * (#liveSince), not from a backlog.
   */
  #idleOrNot(): void {
    if (this.#waking || this.#closing) return
    const idle = this.#stages.every((s) => s.stage.idle?.() ?? false)
    if (idle === this.#idle) return
    const topics = this.#o.topics.map((topic) => ({ topic }))
    if (idle) {
      this.#idle = true
      this.#liveSince = undefined
      this.#consumer.pause(topics)
      this.#log.debug('idle: fetching paused')
      return
    }
    this.#waking = true
    const since = (this.#liveSince ??= this.#watchedFrom())
    void this.#offsetsAt(since)
      .then((latest) => {
        for (const { topic, partition } of this.#assigned) {
          const offset = latest.get(keyOf(topic, partition))
          if (offset === undefined) continue
          // Chunks fetched before are dropped; reading goes on from the latest offset.
          const key = keyOf(topic, partition)
          this.#epochs.set(key, (this.#epochs.get(key) ?? 0) + 1)
          this.#consumer.seek({ topic, partition, offset })
        }
        this.#idle = false
        this.#consumer.resume(topics)
        this.#log.debug({ since: new Date(since).toISOString() }, 'active: fetching from the records since someone started watching')
      })
      .catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, 'could not find the offsets to read from; staying idle until the next check'))
      .finally(() => (this.#waking = false))
  }

  /** Per partition of the runner's topics, the first record stamped at `ms` or later (the high watermark where none is). */
  async #offsetsAt(ms: number): Promise<Map<string, string>> {
    const admin = this.#o.kafka.admin()
    await admin.connect()
    try {
      const out = new Map<string, string>()
      for (const topic of this.#o.topics) for (const p of await admin.fetchTopicOffsetsByTimestamp(topic, ms)) out.set(keyOf(topic, p.partition), p.offset)
      return out
    } finally {
      await admin.disconnect().catch(() => undefined)
    }
  }

  // Chunks are started (decoded, transformed) on one chain and completed (buffered) on another,
  // both in fetch order, so eachBatch can return while transforms on other threads still run:
  // kafkajs fetches the next batch meanwhile. Offsets are resolved at once (kafkajs must not fetch
  // them again) but committed only once durable. A completion is dropped if the group rebalanced
  // (kafkajs resumes from the committed offset) or its partition's epoch moved on.
  async #eachBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload): Promise<void> {
    this.#heartbeat = heartbeat
    const { topic, partition } = batch
    const key = keyOf(topic, partition)
    const generation = this.#generation
    const epoch = this.#epochs.get(key) ?? 0
    const current = () => !this.#closing && isRunning() && !isStale() && generation === this.#generation && epoch === (this.#epochs.get(key) ?? 0)
    const fetch = this.#fetch
    const size = this.#o.chunkRecords
    for (let i = 0; i < batch.messages.length && current(); i += size) {
      await this.#slot()
      if (!current()) {
        this.#release()
        break
      }
      const chunk = batch.messages.slice(i, i + size)
      resolveOffset(chunk[chunk.length - 1]!.offset)
      const started = this.#start(topic, partition, chunk, generation, epoch)
      fetch.pending++
      this.#then(() =>
        this.#complete(topic, partition, chunk, started, generation, epoch).finally(() => {
          this.#release()
          if (--fetch.pending === 0) this.#fetchBuffered(fetch, generation)
        }),
      )
    }
    const lag = batch.offsetLag()
    this.#metrics.lag.set({ group: this.#o.groupId, topic, partition: String(partition) }, Number(lag))
    if (lag === '0') fetch.caughtUp = true
    // Every chunk of it buffered already (or none started): no completion will see it done.
    if (fetch.pending === 0) this.#then(async () => this.#fetchBuffered(fetch, generation))
  }

  /**
   * Every chunk of one fetch response is buffered. If one of its batches left its partition caught
   * up, stages that want low latency flush now: once for the whole fetch, not once per partition,
   * so a producer's records that reached the partitions together leave together (one produce
   * request, read by the next stage in one fetch) instead of one Kafka round trip apart each. The
   * flush is not waited for on the chain: the next fetch's chunks are buffered meanwhile.
   */
  #fetchBuffered(fetch: FetchProgress, generation: number): void {
    if (fetch.pending > 0 || !fetch.caughtUp || generation !== this.#generation || this.#closing) return
    for (const s of this.#stages) if (s.stage.flush.whenCaughtUp && s.buffered > 0) void this.#flush(s)
  }

  /** Appends a step to the completion chain; a failing step is logged and never stalls the chain. */
  #then(step: () => Promise<void>): void {
    this.#completing = this.#completing.then(step).catch((err: unknown) => this.#log.error({ err }, 'consumer pipeline step failed'))
  }

  /** Waits until fewer than `chunksInFlight` chunks are in flight (heartbeating meanwhile), then takes a place. */
  async #slot(): Promise<void> {
    while (this.#inFlight >= this.#o.chunksInFlight) {
      const freed = new Promise<void>((r) => this.#slotFreed.push(r))
      const beat = setInterval(() => void this.#heartbeat?.().catch(() => undefined), this.#heartbeatIntervalMs)
      await freed.finally(() => clearInterval(beat))
    }
    this.#inFlight++
  }

  #release(): void {
    this.#inFlight--
    this.#slotFreed.shift()?.()
  }

  #stale(key: string, generation: number, epoch: number): boolean {
    return generation !== this.#generation || epoch !== (this.#epochs.get(key) ?? 0)
  }

  /** Decodes a chunk and starts every stage's transform on it, after the chunks before it. */
  #start(topic: string, partition: number, chunk: KafkaMessage[], generation: number, epoch: number): Promise<Started | typeof STALE> {
    const key = keyOf(topic, partition)
    const next = this.#starting.then(async (): Promise<Started | typeof STALE> => {
      if (this.#stale(key, generation, epoch) || this.#closing) return STALE
      // Each distinct decoder once, shared by the stages that use it.
      const byDecoder = new Map<RecordDecoder<unknown> | undefined, Decoded>()
      const dead: DeadLetter[] = []
      for (const s of this.#stages) {
        const decoder = s.decoders[topic]
        let decoded = byDecoder.get(decoder)
        if (!decoded) {
          const d = await this.#decode(topic, partition, chunk, decoder)
          if (d === STALE) return STALE
          byDecoder.set(decoder, (decoded = d))
        }
        for (const d of decoded.dead) {
          dead.push({ ...d, stage: s.stage.name })
          s.tel.counted(d.code)
        }
      }
      const results: Started['results'] = []
      for (const s of this.#stages) {
        if (s.stage.state && !s.opened.has(key)) await this.#open(s, topic, partition)
        if (this.#stale(key, generation, epoch)) return STALE
        let { records, values } = byDecoder.get(s.decoders[topic])!
        const skip = s.skipBelow.get(key)
        if (skip !== undefined) {
          const first = records.length > 0 ? BigInt(records[0]!.offset) : skip
          if (first > skip) {
            // The fetch starts after what the restored state covers (it was committed by other
            // stages): read the partition again from the state's offset. Nothing is transformed.
            this.#log.info({ topic, partition, from: String(skip), fetched: String(first) }, 'reading again from the restored state offset')
            this.#epochs.set(key, epoch + 1)
            this.#consumer.seek({ topic, partition, offset: String(skip) })
            s.skipBelow.delete(key)
            return STALE
          }
          const from = records.findIndex((m) => BigInt(m.offset) >= skip)
          if (from !== 0) {
            records = from < 0 ? [] : records.slice(from)
            values = from < 0 ? [] : values.slice(from)
          }
          if (from >= 0) s.skipBelow.delete(key)
        }
        const batch: Batch<unknown> = { topic, partition, records, values }
        const out = this.#call(s, batch)
        // Awaited on completion, unless the chunk turns stale first: never an unhandled rejection.
        if (out instanceof Promise) out.catch(() => undefined)
        results.push({ batch, out })
      }
      return { dead, results }
    })
    this.#starting = next.catch(() => undefined)
    return next
  }

  /** Decodes each record with `decoder`: failures to be dead-lettered, retryable ones retried. */
  async #decode(topic: string, partition: number, chunk: KafkaMessage[], decoder: RecordDecoder<unknown> | undefined): Promise<Decoded | typeof STALE> {
    if (!decoder) return { records: chunk, values: chunk.map((m) => m.value), dead: [] }
    const records: KafkaMessage[] = []
    const values: unknown[] = []
    const dead: Decoded['dead'] = []
    for (const message of chunk) {
      let value: unknown
      for (let attempt = 0; ; attempt++) {
        try {
          value = decoder.decodeSync(message.value)
          if (value === undefined) value = await decoder.decode(message.value)
          break
        } catch (err) {
          if (isSluiceError(err) && err.canRetry) {
            if (this.#closing) return STALE
            this.#log.warn({ topic, partition, offset: message.offset, attempt, err: errorMessage(err) }, 'retryable decode failure, retrying')
            await this.#backoff(attempt)
            continue
          }
          value = undefined
          dead.push({ topic, partition, message, code: codeOf(err, 'DECODE_FAILED'), reason: errorMessage(err) })
          break
        }
      }
      if (value !== undefined) {
        records.push(message)
        values.push(value)
      }
    }
    return { records, values, dead }
  }

  /** Restores a stateful stage's partition; records below the offset it returns are skipped. */
  async #open(s: StageRun, topic: string, partition: number): Promise<void> {
    const key = keyOf(topic, partition)
    s.opened.add(key)
    const next = await s.stage.state!.open(topic, partition)
    if (next !== undefined) {
      s.skipBelow.set(key, BigInt(next))
      s.durable.set(key, BigInt(next))
    }
  }

  /** Buffers a started chunk (dead letters acked first); flushes stages whose buffer is full. */
  async #complete(topic: string, partition: number, chunk: KafkaMessage[], started: Promise<Started | typeof STALE>, generation: number, epoch: number): Promise<void> {
    const key = keyOf(topic, partition)
    const stale = () => this.#stale(key, generation, epoch)
    let outputs: Array<Transformed<unknown>>
    try {
      const s = await started
      if (s === STALE || stale()) return
      outputs = []
      const dead = s.dead
      for (const [i, run] of this.#stages.entries()) {
        const r = await this.#transformed(run, s.results[i]!)
        if (r === STALE) throw STALE
        outputs.push(r)
        for (const f of r.failed ?? []) {
          const message = s.results[i]!.batch.records[f.index]!
          dead.push({ stage: run.stage.name, topic, partition, message, code: run.tel.failed(f.error, 'TRANSFORM_FAILED'), reason: errorMessage(f.error) })
        }
      }
      // Dead letters are acked before their offsets can reach a flush (and so a commit).
      if (dead.length > 0) {
        if (this.#dlq) await this.#dlq.send(dead)
        const reason = this.#dlq ? 'dlq' : 'undecodable'
        for (const run of this.#stages) {
          const n = dead.filter((d) => d.stage === run.stage.name).length
          run.tel.dropped(reason, n, { topic, partition, first: dead[0]!.reason }, this.#dlq ? 'records sent to the DLQ' : 'records skipped')
        }
      }
      if (stale()) return
    } catch (err) {
      // Nothing after this chunk may be buffered (its offsets would commit past it): later chunks
      // of the partition are dropped, and unless shutting down it is fetched again from here.
      this.#epochs.set(key, epoch + 1)
      if (err === STALE || this.#closing) return
      this.#log.error({ err, topic, partition }, 'completing a chunk failed; fetching it again')
      this.#consumer.seek({ topic, partition, offset: chunk[0]!.offset })
      return
    }
    const nextOffset = BigInt(chunk[chunk.length - 1]!.offset) + 1n
    const full: StageRun[] = []
    for (const [i, run] of this.#stages.entries()) {
      let buf = run.buffers.get(key)
      if (!buf) {
        buf = { topic, partition, outputs: [], records: 0, nextOffset }
        run.buffers.set(key, buf)
      }
      for (const o of outputs[i]!.outputs) buf.outputs.push(o)
      buf.nextOffset = nextOffset
      buf.records += chunk.length
      if (run.buffered === 0) run.oldestAt = Date.now()
      run.buffered += chunk.length
      run.tel.received(chunk.length)
      if (run.buffered >= run.stage.flush.maxRecords) full.push(run)
    }
    for (const run of full) {
      // One flush in flight while the next chunks are transformed; a second full buffer waits for it.
      await run.flushing
      void this.#flush(run)
    }
    // Nothing else fetched and waiting (this chunk is the last in flight): a stage that wants low
    // latency flushes now rather than at its interval — under load chunks queue up and batches
    // fill, when traffic is light each one goes out at once.
    if (this.#inFlight <= 1) {
      for (const run of this.#stages) if (run.stage.flush.whenCaughtUp && run.buffered > 0 && !full.includes(run)) void this.#flush(run)
    }
  }

  /**
   * A stage's transform result. A transform failing as a whole is retried with backoff; records
   * it failed retryably (registry unreachable) are transformed again on their own until they
   * succeed or fail for good, their outputs then following the chunk's.
   */
  async #transformed(run: StageRun, r: Started['results'][number]): Promise<Transformed<unknown> | typeof STALE> {
    const result = await this.#whole(run, r.batch, r.out)
    if (result === STALE || !result.failed?.some((f) => isSluiceError(f.error) && f.error.canRetry)) return result
    const outputs = result.outputs.slice()
    const failed = result.failed.filter((f) => !(isSluiceError(f.error) && f.error.canRetry))
    let retry = result.failed.filter((f) => isSluiceError(f.error) && f.error.canRetry).map((f) => f.index)
    for (let attempt = 0; retry.length > 0; attempt++) {
      if (this.#closing) return STALE
      run.tel.retrying(result.failed.find((f) => f.index === retry[0])?.error, 'TRANSFORM_FAILED', { topic: r.batch.topic, partition: r.batch.partition, records: retry.length, attempt }, 'retryable record failures, transforming them again')
      await this.#backoff(attempt)
      const sub: Batch<unknown> = { ...r.batch, records: retry.map((i) => r.batch.records[i]!), values: retry.map((i) => r.batch.values[i]) }
      const again = await this.#whole(run, sub, undefined)
      if (again === STALE) return STALE
      for (const o of again.outputs) outputs.push(o)
      const next: number[] = []
      for (const f of again.failed ?? []) {
        if (isSluiceError(f.error) && f.error.canRetry) next.push(retry[f.index]!)
        else failed.push({ index: retry[f.index]!, error: f.error })
      }
      retry = next
    }
    return { outputs, failed }
  }

  /** A transform's result; one failing as a whole is retried with backoff (`started` undefined: not called yet). */
  async #whole(run: StageRun, batch: Batch<unknown>, started: Transformed<unknown> | Promise<Transformed<unknown>> | undefined): Promise<Transformed<unknown> | typeof STALE> {
    let out = started ?? this.#call(run, batch)
    for (let attempt = 0; ; attempt++) {
      try {
        return await out
      } catch (err) {
        if (this.#closing) return STALE
        run.tel.retrying(err, 'TRANSFORM_FAILED', { topic: batch.topic, partition: batch.partition, records: batch.records.length, attempt }, 'transform failed as a whole, retrying the chunk')
        await this.#backoff(attempt)
        out = this.#call(run, batch)
      }
    }
  }

  /** The stage's transform; one that throws gives a rejected promise. */
  #call(run: StageRun, batch: Batch<unknown>): Transformed<unknown> | Promise<Transformed<unknown>> {
    try {
      return run.stage.transform(batch)
    } catch (err) {
      return Promise.reject(err)
    }
  }

  async #backoff(attempt: number): Promise<void> {
    const ms = Math.min(this.#o.retryMaxMs, this.#o.retryInitialMs * 2 ** attempt) * (0.8 + Math.random() * 0.4)
    await sleep(ms)
    await this.#heartbeat?.().catch(() => undefined)
  }

  /**
   * Flushes a stage's buffers; serialised with the stage's other flushes. A flush asked for while
   * one waits is that one: it takes every buffer when it starts. A second behind it would take
   * only what arrived during the first's write, whatever its age, and the interval would stop
   * meaning anything: with a sink slower than the interval, the timer's ticks queued a flush each,
   * and the queue then ran back to back, each write as small as the one before took long
   * (ClickHouse inserts of half the rows, each a part to write and merge).
   */
  #flush(run: StageRun): Promise<void> {
    if (run.queued) return run.queued
    const queued = run.flushing.then(() => {
      run.queued = undefined
      return this.#flushNow(run)
    })
    run.queued = queued
    run.flushing = queued
    return queued
  }

  async #flushNow(run: StageRun): Promise<void> {
    if (run.buffers.size === 0) return
    const buffers = [...run.buffers.values()]
    run.buffers = new Map()
    run.buffered = 0
    const outputs = buffers.length === 1 ? buffers[0]!.outputs : buffers.flatMap((b) => b.outputs)
    const name = run.stage.name
    if (outputs.length > 0) {
      const end = this.#metrics.flushSeconds.startTimer({ stage: name })
      for (let attempt = 0; ; attempt++) {
        try {
          await run.stage.sink(outputs)
          break
        } catch (err) {
          this.#metrics.retries.inc({ stage: name })
          if (this.#closing && attempt >= 2) {
            // Not committed: the next run reads these records again.
            run.tel.error(err, 'TRANSFORM_FAILED', { outputs: outputs.length }, 'sink still failing at shutdown; leaving offsets uncommitted')
            return
          }
          run.tel.retrying(err, 'TRANSFORM_FAILED', { outputs: outputs.length, attempt }, 'sink failed, retrying without committing')
          await this.#backoff(attempt)
        }
      }
      end()
      let records = 0
      for (const b of buffers) records += b.records
      this.#metrics.batchSize.observe({ stage: name }, records)
      const size = run.stage.size
      let sent = outputs.length
      if (size) {
        sent = 0
        for (const o of outputs) sent += size.call(run.stage, o)
      }
      run.tel.sent(sent)
    }
    // A stateful stage's offsets follow its checkpoints instead.
    if (run.stage.state) return
    for (const b of buffers) {
      const key = keyOf(b.topic, b.partition)
      if (b.nextOffset > (run.durable.get(key) ?? -1n)) run.durable.set(key, b.nextOffset)
    }
    this.#commit()
  }

  /**
   * Checkpoints a stateful stage: once the chunks started so far are buffered and their outputs
   * durable (nothing starts meanwhile), the state is captured; its write runs after, in order.
   */
  #checkpoint(run: StageRun, final: boolean): Promise<void> {
    // The completions of the chunks started so far, as the chain stands now: by the time this
    // step runs, chunks started after it may be on the chain too, and they wait for this step
    // (#starting) — awaiting them here would wait forever.
    const startedSoFar = this.#completing
    const captured = this.#starting.then(async () => {
      await startedSoFar
      await this.#flush(run)
      return run.stage.state!.capture(final)
    })
    this.#starting = captured.catch(() => undefined)
    const done = captured.then((write) => {
      if (!write) return
      run.writes = run.writes.then(async () => {
        try {
          for (const o of await write()) {
            const key = keyOf(o.topic, o.partition)
            if (BigInt(o.offset) > (run.durable.get(key) ?? -1n)) run.durable.set(key, BigInt(o.offset))
          }
          this.#commit()
        } catch (err) {
          run.tel.retrying(err, 'KAFKA_UNAVAILABLE', {}, 'checkpoint failed; offsets stay uncommitted until the next one')
        }
      })
      return run.writes
    })
    return done.catch((err: unknown) => run.tel.error(err, 'TRANSFORM_FAILED', {}, 'capturing a checkpoint failed'))
  }

  /** Commits, per partition, the lowest offset every stage has durable, when it moved forward. */
  #commit(): void {
    if (this.#o.live) return
    const offsets: TopicPartitionOffset[] = []
    const first = this.#stages[0]!
    for (const [key, offset] of first.durable) {
      let min = offset
      for (const s of this.#stages) {
        const d = s.durable.get(key)
        if (d === undefined) {
          min = -1n
          break
        }
        if (d < min) min = d
      }
      if (min <= (this.#committed.get(key) ?? -1n)) continue
      this.#committed.set(key, min)
      const [topic, partition] = key.split('\u0000') as [string, string]
      offsets.push({ topic, partition: Number(partition), offset: min.toString() })
    }
    if (offsets.length === 0) return
    this.#commits = this.#commits.then(async () => {
      try {
        await this.#consumer.commitOffsets(offsets)
        this.#metrics.commits.inc({ stage: this.#o.name, result: 'ok' })
      } catch (err) {
        // The data is durable; an uncommitted offset only means re-delivery, absorbed by `id`.
        this.#metrics.commits.inc({ stage: this.#o.name, result: 'failed' })
        this.#log.warn({ err: errorMessage(err) }, 'offset commit failed; records will be re-delivered')
      }
    })
  }

  #onAssignment(assignment: Record<string, number[]>): void {
    this.#generation++
    // A live member's first join, while someone watches, would start at the end as it is then,
    // past what was sent since they started: paused, it is woken at the next tick, from #liveSince.
    // (After a later rebalance it carries on from the end, as before: no replay of the past.)
    if (this.#o.live && this.#generation === 1 && !this.#idle && !this.#closing) {
      this.#idle = true
      this.#consumer.pause(this.#o.topics.map((topic) => ({ topic })))
    }
    const assigned = new Set<string>()
    this.#assigned = Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })))
    for (const { topic, partition } of this.#assigned) assigned.add(keyOf(topic, partition))
    for (const key of [...this.#committed.keys()]) if (!assigned.has(key)) this.#committed.delete(key)
    for (const s of this.#stages) {
      for (const [key, buf] of s.buffers) {
        if (assigned.has(key)) continue
        s.buffered -= buf.records
        s.buffers.delete(key)
      }
      for (const key of [...s.durable.keys()]) if (!assigned.has(key)) s.durable.delete(key)
      for (const key of [...s.skipBelow.keys()]) if (!assigned.has(key)) s.skipBelow.delete(key)
      const state = s.stage.state
      if (!state) continue
      for (const key of [...s.opened]) {
        if (assigned.has(key)) continue
        s.opened.delete(key)
        const [topic, partition] = key.split('\u0000') as [string, string]
        state.close(topic, Number(partition))
      }
      // Every assigned partition is opened now, records or not (the alerter checks silence there).
      for (const key of assigned) {
        if (s.opened.has(key)) continue
        const [topic, partition] = key.split('\u0000') as [string, string]
        s.opened.add(key)
        const opening = this.#starting.then(() => (s.opened.has(key) ? this.#open(s, topic, Number(partition)) : undefined))
        this.#starting = opening.catch((err: unknown) => {
          s.opened.delete(key)
          s.tel.error(err, 'TRANSFORM_FAILED', { topic, partition }, 'restoring partition state failed')
        })
      }
    }
  }
}
