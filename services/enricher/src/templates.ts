// Template state across restarts: the enricher's template groups are checkpointed to a compacted
// topic and restored at start, so a message shape keeps the template, pattern_id and aliases it
// had before a restart instead of founding a new, less general group. All instances of a consumer
// group share one record: each restores the latest at start and writes its own periodically.
//
// Record: key "<consumer group>|drain", value gzip(JSON MinerSnapshot), the most recently used
// clusters first, cut to fit under maxBytes (Kafka's default message.max.bytes is 1 MiB).
// Compression runs on libuv's pool, off the event loop that does the Kafka I/O.
import { promisify } from 'node:util'
import { gunzipSync, gzip } from 'node:zlib'
import type { Logger } from 'pino'
import { CompactedStore } from '@sluice/kafka'
import type { Kafka, MessageProducer, TransformThreads } from '@sluice/kafka'
import type { MinerSnapshot } from './miner.js'

const gzipAsync = promisify(gzip)

/** A template checkpoint: gzip JSON of the miners' clusters, at a revision of the miners. */
export interface TemplateState {
  bytes: Uint8Array
  revision: number
  /** Clusters in the checkpoint, and known in all (the checkpoint keeps the most recently used). */
  clusters: number
  total: number
}

/** Where the template miners are (one per transform thread). */
export interface TemplateSource {
  /** Restores a checkpoint into the (fresh) miners; returns the clusters restored. */
  restoreTemplates(bytes: Uint8Array): Promise<number>
  /** The templates as a checkpoint of at most maxBytes, or undefined if unchanged since `sinceRevision`. */
  templates(sinceRevision: number, maxBytes: number): Promise<TemplateState | undefined>
}

export interface TemplateCheckpointsOptions {
  kafka: Kafka
  producer: MessageProducer
  topic: string
  groupId: string
  /** Holds the template miners (on this thread or others). */
  transform: TemplateSource
  logger: Logger
  maxBytes?: number
}

/** A snapshot's gzip bytes (its clusters most recently used first), dropping the least recently used until it fits. */
export async function encodeTemplates(snapshot: MinerSnapshot, maxBytes: number): Promise<{ bytes: Buffer; clusters: number }> {
  let limit = snapshot.clusters.length
  for (;;) {
    const clusters = snapshot.clusters.slice(0, limit)
    const bytes = await gzipAsync(JSON.stringify({ version: snapshot.version, clusters }))
    if (bytes.length <= maxBytes || limit <= 1) return { bytes, clusters: clusters.length }
    limit = Math.floor(limit * Math.min(0.9, maxBytes / bytes.length))
  }
}

/**
 * Several miners' snapshots as one: taken in turns (so each one's most recently used come
 * first); a group another miner also holds (the same words) is kept once, with both's aliases.
 */
export function mergeSnapshots(snapshots: readonly MinerSnapshot[]): MinerSnapshot {
  if (snapshots.length === 1) return snapshots[0]!
  const byWords = new Map<string, MinerSnapshot['clusters'][number]>()
  const longest = Math.max(0, ...snapshots.map((s) => s.clusters.length))
  for (let i = 0; i < longest; i++) {
    for (const s of snapshots) {
      const c = s.clusters[i]
      if (!c) continue
      const words = c.tokens.join(' ')
      const kept = byWords.get(words)
      if (!kept) {
        byWords.set(words, { ...c, aliases: [...c.aliases] })
        continue
      }
      for (const a of [c.id, ...c.aliases]) if (a !== kept.id && !kept.aliases.includes(a)) kept.aliases.push(a)
    }
  }
  return { version: 2, clusters: [...byWords.values()] }
}

export function decodeTemplates(bytes: Buffer): MinerSnapshot {
  const s = JSON.parse(gunzipSync(bytes).toString('utf8')) as MinerSnapshot
  // Version 1 held Drain clusters, whose ids named templates, not groups: nothing to carry over.
  if (s.version !== 2 || !Array.isArray(s.clusters)) throw new Error(`unsupported template snapshot version ${String(s.version)}`)
  return s
}

/**
 * The templates of a transform on threads (one miner per thread): a checkpoint is restored into
 * every miner (each then knows every template), and taken from all of them, merged.
 */
export function threadTemplates(threads: TransformThreads): TemplateSource {
  /** Revision of each thread's miner at the last checkpoint taken. */
  let revisions = Array.from({ length: threads.size }, () => -1)
  return {
    async restoreTemplates(bytes) {
      return threads.restore(decodeTemplates(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)))
    },
    async templates(sinceRevision, maxBytes) {
      // After a checkpoint that was not saved (sinceRevision is older), every thread is asked afresh.
      const known = sinceRevision === revisions.reduce((a, b) => a + b, 0) ? revisions : revisions.map(() => -1)
      const taken = await Promise.all(known.map((rev, i) => threads.snapshot(i, rev)))
      // One number for "changed since": the sum of the threads' revisions, each only ever growing.
      const now = taken.map((t, i) => t?.revision ?? known[i]!)
      const revision = now.reduce((a, b) => a + b, 0)
      if (revision === sinceRevision || taken.every((t) => t === undefined)) return undefined
      // A thread unchanged since the last checkpoint still has its templates: ask for them again.
      const snapshots = await Promise.all(taken.map(async (t, i) => (t ?? (await threads.snapshot(i, -1))!).snapshot as MinerSnapshot))
      const merged = mergeSnapshots(snapshots)
      const { bytes, clusters } = await encodeTemplates(merged, maxBytes)
      revisions = now
      return { bytes, revision, clusters, total: merged.clusters.length }
    },
  }
}

export class TemplateCheckpoints {
  readonly #o: Required<TemplateCheckpointsOptions>
  readonly #store: CompactedStore
  readonly #key: string
  readonly #log: Logger
  #savedRevision = -1

  constructor(opts: TemplateCheckpointsOptions) {
    this.#o = { maxBytes: 900_000, ...opts }
    this.#key = `${opts.groupId}|drain`
    this.#log = opts.logger.child({ component: 'templates' })
    this.#store = new CompactedStore({ kafka: opts.kafka, producer: opts.producer, topic: opts.topic, readerGroupPrefix: `${opts.groupId}.templates`, logger: opts.logger })
  }

  /** Restores the latest checkpoint into the (empty) miner; returns the clusters restored. */
  async start(timeoutMs = 30_000): Promise<number> {
    await this.#store.start()
    await this.#store.caughtUp(timeoutMs)
    const bytes = this.#store.get(this.#key)
    if (bytes === undefined) return 0
    try {
      const clusters = await this.#o.transform.restoreTemplates(bytes)
      this.#log.info({ clusters }, 'templates restored')
      return clusters
    } catch (err) {
      this.#log.error({ err }, 'unreadable template checkpoint ignored; mining starts empty')
      return 0
    }
  }

  /** Writes a checkpoint when templates changed since the last one. */
  async save(): Promise<void> {
    const state = await this.#o.transform.templates(this.#savedRevision, this.#o.maxBytes)
    if (!state) return
    await this.#store.put([{ key: this.#key, value: Buffer.from(state.bytes.buffer, state.bytes.byteOffset, state.bytes.byteLength) }])
    this.#savedRevision = state.revision
    if (state.clusters < state.total) this.#log.warn({ kept: state.clusters, total: state.total }, 'template checkpoint cut to its size limit (least recently used left out)')
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}
