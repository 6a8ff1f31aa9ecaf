// Template state across restarts: the enricher's Drain clusters are checkpointed to a compacted
// topic and restored at start, so a message shape keeps the template (and pattern_id) it had
// before a restart instead of founding a new, less general cluster. All instances of a consumer
// group share one record: each restores the latest at start and writes its own periodically.
//
// Record: key "<consumer group>|drain", value gzip(JSON DrainSnapshot), the most recently used
// clusters first, cut to fit under maxBytes (Kafka's default message.max.bytes is 1 MiB).
import { gunzipSync, gzipSync } from 'node:zlib'
import type { Logger } from 'pino'
import { CompactedStore } from '@sluice/kafka'
import type { BatchingProducer, Kafka } from '@sluice/kafka'
import type { Drain, DrainSnapshot } from './drain.js'

export interface TemplateCheckpointsOptions {
  kafka: Kafka
  producer: BatchingProducer
  topic: string
  groupId: string
  drain: Drain
  logger: Logger
  maxBytes?: number
}

/** The snapshot's gzip bytes, dropping the least recently used clusters until it fits. */
export function encodeTemplates(drain: Drain, maxBytes: number): { bytes: Buffer; clusters: number } {
  let limit = drain.clusterCount
  for (;;) {
    const snapshot = drain.snapshot(limit)
    const bytes = gzipSync(JSON.stringify(snapshot))
    if (bytes.length <= maxBytes || limit <= 1) return { bytes, clusters: snapshot.clusters.length }
    limit = Math.floor(limit * Math.min(0.9, maxBytes / bytes.length))
  }
}

export function decodeTemplates(bytes: Buffer): DrainSnapshot {
  const s = JSON.parse(gunzipSync(bytes).toString('utf8')) as DrainSnapshot
  if (s.version !== 1 || !Array.isArray(s.clusters)) throw new Error(`unsupported template snapshot version ${String(s.version)}`)
  return s
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

  /** Restores the latest checkpoint into the (empty) Drain; returns the clusters restored. */
  async start(timeoutMs = 30_000): Promise<number> {
    await this.#store.start()
    await this.#store.caughtUp(timeoutMs)
    const bytes = this.#store.get(this.#key)
    if (bytes === undefined) return 0
    try {
      const snapshot = decodeTemplates(bytes)
      this.#o.drain.restore(snapshot)
      this.#savedRevision = this.#o.drain.revision
      this.#log.info({ clusters: snapshot.clusters.length }, 'templates restored')
      return snapshot.clusters.length
    } catch (err) {
      this.#log.error({ err }, 'unreadable template checkpoint ignored; mining starts empty')
      return 0
    }
  }

  /** Writes a checkpoint when templates changed since the last one. */
  async save(): Promise<void> {
    const revision = this.#o.drain.revision
    if (revision === this.#savedRevision) return
    const { bytes, clusters } = encodeTemplates(this.#o.drain, this.#o.maxBytes)
    await this.#store.put([{ key: this.#key, value: bytes }])
    this.#savedRevision = revision
    if (clusters < this.#o.drain.clusterCount) this.#log.warn({ kept: clusters, total: this.#o.drain.clusterCount }, 'template checkpoint cut to its size limit (least recently used left out)')
  }

  close(): Promise<void> {
    return this.#store.close()
  }
}
