// The enricher's per-record work on a chunk of records: decode (Avro) → enrich → LLM for unknown
// templates (when configured) → encode (Avro). Chunks travel packed, so they can cross to a
// worker thread by transfer rather than by copy (see transform-thread.ts):
//   in   the raw values back to back in one byte array; value i ends at ends[i]
//   out  the encoded enriched values the same way, a Kafka key per record, and a failure (with the
//        index of its record) for each record that could not be decoded or encoded
// The template miner lives here: checkpoints (templates.ts) are taken from and restored into it.
import type { ErrorCode, LogEvent } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import type { AvroCodec } from '@sluice/registry'
import type { Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, gauge, histogram } from '@sluice/observability'
import { createEnricher } from './enrich.js'
import type { EnricherConfig } from './enrich.js'
import { LlmClassifier } from './llm.js'
import type { LlmOptions } from './llm.js'
import type { EnrichedLog } from './model.js'
import type { DrainSnapshot } from './drain.js'

/**
 * Byte strings in one array: string i is bytes[starts[i], ends[i]), or without `starts` (back to
 * back) bytes[ends[i - 1] ?? 0, ends[i]).
 */
export interface Packed {
  bytes: Uint8Array<ArrayBuffer>
  ends: Int32Array<ArrayBuffer>
  starts?: Int32Array<ArrayBuffer>
}

/** Where string i of a packed array starts. */
export const startOf = (p: Packed, i: number): number => p.starts?.[i] ?? (i === 0 ? 0 : p.ends[i - 1]!)

/** At most this share of a span copied whole may be bytes between the strings. */
const MAX_GAP_SHARE = 0.25

export interface TransformFailure {
  index: number
  code: ErrorCode
  message: string
  canRetry: boolean
}

export interface TransformResult extends Packed {
  /** The Kafka key of each output record ("<tenant>/<service>"; empty for failures). */
  keys: string[]
  failures: TransformFailure[]
}

export interface Transform {
  run(chunk: Packed): Promise<TransformResult>
  /** Adds a checkpoint's clusters to the template miner; returns how many. */
  restore(snapshot: DrainSnapshot): Promise<number>
  /** The miner's clusters, most recently used first; undefined if unchanged since `sinceRevision`. */
  snapshot(sinceRevision: number): Promise<{ snapshot: DrainSnapshot; revision: number } | undefined>
  close(): Promise<void>
}

export interface TransformOptions {
  enricher: EnricherConfig
  llm?: Omit<LlmOptions, 'registry'> | undefined
  rawCodec: AvroCodec<LogEvent>
  enrichedCodec: AvroCodec<EnrichedLog>
  /** Where the transform's own metrics go (stage timings, categories, templates, LLM). */
  registry: Registry
}

/**
 * Packs byte strings (null as empty) into one fresh, transferable byte array. Values read from
 * one fetch response lie in order in one buffer, a few bytes of record framing apart: such a run
 * is copied as one span (one copy instead of one per value), `starts` saying where each begins.
 */
export function pack(values: readonly (Uint8Array | null)[]): Packed {
  const span = spanOf(values)
  if (span) {
    const bytes = new Uint8Array(span.length)
    bytes.set(new Uint8Array(span.buffer, span.first, span.length))
    const starts = new Int32Array(values.length)
    const ends = new Int32Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!
      starts[i] = v.byteOffset - span.first
      ends[i] = starts[i]! + v.length
    }
    return { bytes, ends, starts }
  }
  let total = 0
  for (const v of values) total += v?.length ?? 0
  const bytes = new Uint8Array(total)
  const ends = new Int32Array(values.length)
  let pos = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v) {
      bytes.set(v, pos)
      pos += v.length
    }
    ends[i] = pos
  }
  return { bytes, ends }
}

/** The span covering `values` when they lie in order in one buffer with little between them. */
function spanOf(values: readonly (Uint8Array | null)[]): { buffer: ArrayBufferLike; first: number; length: number } | undefined {
  const head = values[0]
  if (!head || values.length < 2) return undefined
  let total = 0
  let end = head.byteOffset
  for (const v of values) {
    if (!v || v.buffer !== head.buffer || v.byteOffset < end) return undefined
    end = v.byteOffset + v.length
    total += v.length
  }
  const length = end - head.byteOffset
  return length - total <= total * MAX_GAP_SHARE ? { buffer: head.buffer, first: head.byteOffset, length } : undefined
}

/** Buffer views (no copies) of each packed byte string. */
export function unpack(p: Packed): Buffer[] {
  const out = new Array<Buffer>(p.ends.length)
  for (let i = 0; i < p.ends.length; i++) {
    const start = startOf(p, i)
    out[i] = Buffer.from(p.bytes.buffer, p.bytes.byteOffset + start, p.ends[i]! - start)
  }
  return out
}

// Stage timings are sampled: timing every record would cost more than some of the stages.
const SAMPLE_EVERY = 64

export function createTransform(o: TransformOptions): Transform {
  const enricher = createEnricher(o.enricher)
  const llm = o.llm && new LlmClassifier({ ...o.llm, registry: o.registry })
  const r = o.registry
  const stageSeconds = histogram(r, 'sluice_enricher_stage_seconds', 'Per-record time in each enricher stage (sampled 1 in 64).', LATENCY_BUCKETS_SECONDS.map((b) => b / 100), ['stage'])
  const templateCount = gauge(r, 'sluice_enricher_templates', 'Log templates held by this instance, summed over its transform threads (a restored checkpoint counts once per thread).')
  const categories = counter(r, 'sluice_enricher_records_total', 'Enriched records, by category and classifier.', ['category', 'classifier'])
  let n = 0
  // Sized from the last chunk, so a chunk's output rarely needs to grow its buffer.
  let outBytes = 64 * 1024

  // Synchronous unless the writer's schema must be fetched or the LLM is asked: no promise per record.
  function enrichOne(bytes: Buffer, start: number, end: number): EnrichedLog | Promise<EnrichedLog> {
    const event = o.rawCodec.decodeSyncAt(bytes, start, end)
    if (event === undefined) return o.rawCodec.decode(bytes.subarray(start, end)).then(afterDecode)
    return afterDecode(event)
  }

  function afterDecode(event: LogEvent): EnrichedLog | Promise<EnrichedLog> {
    const enriched = enricher.enrich(event)
    if (!llm || enriched.category !== 'unknown') return enriched
    return llm.classify(enriched.pattern_id, enriched.template, enriched.message).then((v) => (v ? { ...enriched, category: v.category, classifier: v.classifier } : enriched))
  }

  /** The same work, timed by stage (one record in SAMPLE_EVERY). */
  async function enrichTimed(value: Buffer): Promise<EnrichedLog> {
    const t0 = performance.now()
    const event = await o.rawCodec.decode(value)
    const t1 = performance.now()
    const enriched = await afterDecode(event)
    stageSeconds.observe({ stage: 'decode' }, (t1 - t0) / 1000)
    stageSeconds.observe({ stage: 'enrich' }, (performance.now() - t1) / 1000)
    templateCount.set(enricher.drain.clusterCount)
    return enriched
  }

  return {
    async run(chunk) {
      const bytes = Buffer.from(chunk.bytes.buffer, chunk.bytes.byteOffset, chunk.bytes.byteLength)
      const count = chunk.ends.length
      // A fresh buffer per chunk: the previous one now belongs to the producer (or another thread).
      let out = Buffer.allocUnsafeSlow(outBytes)
      let pos = 0
      const ends = new Int32Array(count)
      const keys = new Array<string>(count)
      const failures: TransformFailure[] = []
      const encodeAt = (record: EnrichedLog) => {
        for (;;) {
          const end = o.enrichedCodec.encodeInto(record, out, pos)
          if (end >= 0) return void (pos = end)
          const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, out.length - end + 1024))
          out.copy(grown, 0, 0, pos)
          out = grown
        }
      }
      // Category counts are added up per chunk: one labelled increment per record costs more.
      const counts = new Map<string, number>()
      for (let i = 0; i < count; i++) {
        const start = startOf(chunk, i)
        try {
          const timed = n++ % SAMPLE_EVERY === 0
          const done = timed ? enrichTimed(bytes.subarray(start, chunk.ends[i])) : enrichOne(bytes, start, chunk.ends[i]!)
          const record = done instanceof Promise ? await done : done
          const t0 = timed ? performance.now() : 0
          encodeAt(record)
          if (timed) stageSeconds.observe({ stage: 'encode' }, (performance.now() - t0) / 1000)
          keys[i] = `${record.tenant}/${record.service}`
          const label = `${record.category}\u0000${record.classifier}`
          counts.set(label, (counts.get(label) ?? 0) + 1)
        } catch (err) {
          keys[i] = ''
          failures.push({ index: i, code: isSluiceError(err) ? err.code : 'DECODE_FAILED', message: errorMessage(err), canRetry: isSluiceError(err) && err.canRetry })
        }
        ends[i] = pos
      }
      for (const [label, count] of counts) {
        const [category, classifier] = label.split('\u0000') as [string, string]
        categories.inc({ category, classifier }, count)
      }
      outBytes = Math.max(64 * 1024, Math.ceil(pos * 1.25))
      return { bytes: out.subarray(0, pos), ends, keys, failures }
    },
    async restore(snapshot) {
      enricher.drain.restore(snapshot)
      templateCount.set(enricher.drain.clusterCount)
      return snapshot.clusters.length
    },
    async snapshot(sinceRevision) {
      const revision = enricher.drain.revision
      return revision === sinceRevision ? undefined : { snapshot: enricher.drain.snapshot(), revision }
    },
    async close() {},
  }
}
