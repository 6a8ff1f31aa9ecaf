// The stage contract: what a consuming service gives the runner. A stage is a transform (a batch
// of one partition's records in, outputs out) and a sink (makes outputs durable). Everything
// Kafka — fetching, decoding, ordering, buffering, retries, dead letters, rebalances, commits and
// their telemetry — is the runner's (runner.ts), the same for every stage.
//
//   source (Kafka consumer, decode)  →  transform (pure, per batch)  →  sink (produce / insert / fan out)
//                                                                          ↓ durable
//                                                          offsets committed (min over the source's stages)
import type { KafkaMessage } from 'kafkajs'

/** A chunk of one partition's records, in offset order, as a transform sees it. */
export interface Batch<T> {
  readonly topic: string
  readonly partition: number
  /** The Kafka records (key, value bytes, offset, headers); undecodable ones are already left out. */
  readonly records: readonly KafkaMessage[]
  /** The decoded value of each record, in the same order (the value bytes when the source does not decode). */
  readonly values: readonly T[]
}

/** A record the transform refused: the runner dead-letters it under the stage's name. */
export interface RecordFailure {
  /** Index into the batch's records. */
  index: number
  error: unknown
}

export interface Transformed<O> {
  outputs: O[]
  failed?: RecordFailure[]
}

export interface TopicPartitionOffset {
  topic: string
  partition: number
  /** The next offset to read: everything below it is durable in this stage. */
  offset: string
}

/**
 * A stateful stage's state (the alerter's windows): restored per partition when assigned, and
 * checkpointed periodically. Its offsets follow the checkpoints, not the sink: a record counts as
 * done once the state that applied it is durable.
 */
export interface StageState {
  /**
   * The partition was assigned: restore its state. Resolves with the next offset the restored
   * state still needs (records below it are not transformed again), or undefined.
   */
  open(topic: string, partition: number): Promise<string | undefined>
  /** The partition was revoked: drop its state (its next owner restores the checkpoint). */
  close(topic: string, partition: number): void
  /**
   * Called when every output transformed so far is durable and no transform runs: captures the
   * state and returns the write that makes it durable, resolving with the offsets it covers.
   * `final` at shutdown. Undefined: nothing changed.
   */
  capture(final: boolean): Promise<(() => Promise<readonly TopicPartitionOffset[]>) | undefined>
  readonly checkpointIntervalMs: number
}

export interface FlushPolicy {
  /** Flush when this many records were transformed… */
  maxRecords: number
  /** …or when the oldest was transformed this long ago. */
  intervalMs: number
  /**
   * Flush as soon as a fetch response that left a partition caught up is buffered, every partition
   * of it (one write for what a producer sent together): lowest latency under light
   * traffic, full batches under a backlog. Leave off where small writes are expensive (ClickHouse parts).
   */
  whenCaughtUp?: boolean
}

export interface Stage<T, O> {
  /** Label of the stage's metrics, logs and dead letters (`sluice_<name>_events_*`). */
  readonly name: string
  transform(batch: Batch<T>): Transformed<O> | Promise<Transformed<O>>
  /** Makes outputs durable; resolves only when they are. Retried with backoff while it rejects. */
  sink(outputs: O[]): Promise<void>
  readonly flush: FlushPolicy
  readonly state?: StageState
  /** Events an output carries (default 1): a block of encoded rows counts as its rows in `sent`. */
  size?(output: O): number
  /**
   * Live stages only: nothing to do now (nobody is watching). A live runner stops fetching while
   * all its stages are idle and, once one is not, carries on from the latest offsets.
   */
  idle?(): boolean
}

/**
 * Turns a record value into what the stages read (an AvroCodec is one). Throws — a SluiceError,
 * canRetry when worth retrying (registry unreachable) — when it cannot.
 */
export interface RecordDecoder<T> {
  /** The value, or undefined when decoding needs an asynchronous step first (fetching a writer schema). */
  decodeSync(value: Buffer | null): T | undefined
  decode(value: Buffer | null): Promise<T>
}
