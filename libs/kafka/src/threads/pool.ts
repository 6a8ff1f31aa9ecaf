// A record transform on several threads, as one stage transform. Each Kafka key (tenant/service)
// is pinned to one thread, so a key's records keep their order and meet one copy of the
// transform's state (a template miner), whichever partitions this instance owns. A key seen for
// the first time is pinned to the thread holding the fewest keys (ties: the one with the fewest
// records lately): nothing is known of a new key's volume, and a static hash of ~50 keys onto 2
// threads splits them 31/19. Counting records instead decided on the order keys first came in:
// a partition's chunk is routed before the next partition's is, so when an instance starts (when
// nearly every key is first seen) the keys of the second partition all went to the thread the
// first had not loaded yet (2 threads, 3 partitions, 50 even services: 37/63 of the records).
// A chunk is split by thread, the parts run at once, and the outputs are put back in the chunk's
// order.
//
// With `threads: 0` the transform runs on the main thread instead (same module, same factory).
import type { Logger } from 'pino'
import { SluiceError } from '@sluice/core'
import type { Registry } from '@sluice/observability'
import type { Batch, RecordFailure, Transformed } from '../stage.js'
import { pack, unpack } from './packed.js'
import type { RecordTransform, ThreadSnapshot, ThreadTransformFactory } from './protocol.js'
import { TransformThread } from './thread.js'

/** An output record: a Kafka message. */
export interface KeyedRecord {
  key: string
  value: Buffer
}

export interface TransformThreadsOptions {
  /** The thread module (it calls serveTransform(factory) at its top level). */
  module: URL
  /** Its factory, for `threads: 0` (run on this thread). */
  factory: ThreadTransformFactory
  /** Given to the factory (structured-cloned to threads). */
  init: unknown
  /** Worker threads; 0 runs the transform on the main thread. */
  threads: number
  logger: Logger
  registry: Registry
  maxHeapMb?: number | undefined
}

/** FNV-1a of the key bytes: the pin table's key, without making a string per record. */
function hashKey(key: Buffer): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193)
  return h >>> 0
}

/** Keys pinned at most; past it the longest-pinned is forgotten (and pinned afresh if it comes back). */
const MAX_PINS = 100_000
/** Load counts are halved past this many records, so "lately" means roughly the last million. */
const LOAD_WINDOW = 1_000_000

export class TransformThreads {
  readonly #parts: readonly RecordTransform[]
  /** Key hash → the part it is pinned to. */
  readonly #pins = new Map<number, number>()
  /** Records routed to each part lately. */
  readonly #load: number[]
  /** Keys pinned to each part. */
  readonly #keys: number[]

  constructor(parts: readonly RecordTransform[]) {
    if (parts.length === 0) throw new Error('a transform needs at least one part')
    this.#parts = parts
    this.#load = parts.map(() => 0)
    this.#keys = parts.map(() => 0)
  }

  /** Starts the threads (all or none: one failing to start closes the others and rejects with its reason). */
  static async start(o: TransformThreadsOptions): Promise<TransformThreads> {
    if (o.threads === 0) return new TransformThreads([await o.factory(o.init, { registry: o.registry })])
    const started = await Promise.allSettled(
      Array.from({ length: o.threads }, () => TransformThread.start({ module: o.module, init: o.init, logger: o.logger, registry: o.registry, maxHeapMb: o.maxHeapMb })),
    )
    const threads = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []))
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) {
      await Promise.all(threads.map((t) => t.close()))
      throw failed.reason
    }
    return new TransformThreads(threads)
  }

  get size(): number {
    return this.#parts.length
  }

  /**
   * The part a record goes to: its key's pin; for a new key the part with the fewest keys (ties:
   * the least loaded); a record without a key goes to the least loaded part.
   */
  #partOf(key: Buffer | null): number {
    const load = this.#load
    const keys = this.#keys
    let part = 0
    const h = key ? hashKey(key) : undefined
    const pinned = h === undefined ? undefined : this.#pins.get(h)
    if (pinned !== undefined) part = pinned
    else if (h === undefined) {
      for (let i = 1; i < load.length; i++) if (load[i]! < load[part]!) part = i
    } else {
      for (let i = 1; i < load.length; i++) if (keys[i]! < keys[part]! || (keys[i] === keys[part] && load[i]! < load[part]!)) part = i
      if (this.#pins.size >= MAX_PINS) {
        const [oldest, its] = this.#pins.entries().next().value!
        this.#pins.delete(oldest)
        keys[its]!--
      }
      this.#pins.set(h, part)
      keys[part]!++
    }
    if (++load[part]! > LOAD_WINDOW) for (let i = 0; i < load.length; i++) load[i]! /= 2
    return part
  }

  /** The stage transform: byte values in, keyed records out, a failure per record that failed. */
  async transform(batch: Batch<Buffer | null>): Promise<Transformed<KeyedRecord>> {
    const { records, values } = batch
    const groups: number[][] = this.#parts.map(() => [])
    if (groups.length === 1) groups[0] = records.map((_, i) => i)
    else for (let i = 0; i < records.length; i++) groups[this.#partOf(records[i]!.key)]!.push(i)
    const out = new Array<KeyedRecord | undefined>(records.length)
    const failed: RecordFailure[] = []
    await Promise.all(
      groups.map(async (indexes, t) => {
        if (indexes.length === 0) return
        const result = await this.#parts[t]!.run(pack(indexes.map((i) => values[i]!)))
        const bytes = unpack(result)
        for (let j = 0; j < indexes.length; j++) out[indexes[j]!] = { key: result.keys[j]!, value: bytes[j]! }
        for (const f of result.failures) {
          out[indexes[f.index]!] = undefined
          failed.push({ index: indexes[f.index]!, error: new SluiceError(f.code, f.message, { canRetry: f.canRetry }) })
        }
      }),
    )
    const outputs: KeyedRecord[] = []
    for (const o of out) if (o) outputs.push(o)
    if (failed.length > 1) failed.sort((a, b) => a.index - b.index)
    return failed.length > 0 ? { outputs, failed } : { outputs }
  }

  /** Part `i`'s state, or undefined when unchanged since `sinceRevision`. */
  snapshot(i: number, sinceRevision: number): Promise<ThreadSnapshot | undefined> {
    return this.#parts[i]!.snapshot(sinceRevision)
  }

  /** Restores a snapshot into every part; returns how many entries it held. */
  async restore(snapshot: unknown): Promise<number> {
    const counts = await Promise.all(this.#parts.map((p) => p.restore(snapshot)))
    return counts[0] ?? 0
  }

  async close(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.close()))
  }
}
