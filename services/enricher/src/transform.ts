// The enricher's per-record work on a chunk of records: decode (Avro) → enrich → LLM for unknown
// templates (when configured) → encode (Avro), as a record transform the consumer runner runs on
// worker threads (thread.ts) or on its own thread. Chunks travel packed (@sluice/kafka's packed
// format), so they cross to a thread by transfer rather than by copy:
//   in   the raw values, packed; value i is bytes[startOf(i), ends[i])
//   out  the encoded enriched values back to back, a Kafka key per record, and a failure (with the
//        index of its record) for each record that could not be decoded or encoded
// The template miner lives here: checkpoints (templates.ts) are taken from and restored into it.
import type { LogEvent } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import { startOf } from '@sluice/kafka/thread'
import type { RecordTransform, ThreadFailure } from '@sluice/kafka/thread'
import type { AvroCodec } from '@sluice/registry'
import type { Registry } from '@sluice/observability'
import { LATENCY_BUCKETS_SECONDS, counter, gauge, histogram } from '@sluice/observability'
import { createEnricher } from './enrich.js'
import type { EnricherConfig } from './enrich.js'
import { LlmClassifier } from './llm.js'
import type { LlmOptions } from './llm.js'
import type { EnrichedLog } from './model.js'
import type { MinerSnapshot } from './miner.js'

export interface TransformOptions {
  enricher: EnricherConfig
  llm?: Omit<LlmOptions, 'registry'> | undefined
  rawCodec: AvroCodec<LogEvent>
  enrichedCodec: AvroCodec<EnrichedLog>
  /** Where the transform's own metrics go (stage timings, categories, templates, LLM). */
  registry: Registry
}

// Stage timings are sampled: timing every record would cost more than some of the stages.
const SAMPLE_EVERY = 64

export function createTransform(o: TransformOptions): RecordTransform {
  const enricher = createEnricher(o.enricher)
  const llm = o.llm && new LlmClassifier({ ...o.llm, registry: o.registry })
  const r = o.registry
  const stageSeconds = histogram(r, 'sluice_enricher_stage_seconds', 'Per-record time in each enricher stage (sampled 1 in 64).', LATENCY_BUCKETS_SECONDS.map((b) => b / 100), ['stage'])
  const templateCount = gauge(r, 'sluice_enricher_templates', 'Log templates held by this instance, summed over its transform threads (a restored checkpoint counts once per thread).')
  const categories = counter(r, 'sluice_enricher_records_total', 'Enriched records, by category and classifier.', ['category', 'classifier'])
  let n = 0
  // Sized from the last chunk, so a chunk's output rarely needs to grow its buffer.
  let outBytes = 64 * 1024
  // An enriched record begins with the raw record's fields: where the enricher left them as they
  // were (most records), their bytes are copied from the raw record rather than encoded again.
  const prefixed = o.enrichedCodec.prefixedBy(o.rawCodec)

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
    templateCount.set(enricher.miner.clusterCount)
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
      const failures: ThreadFailure[] = []
      // `event`: the raw record `record` was made of, read from bytes[start, end) (when known).
      const encodeAt = (record: EnrichedLog, event: LogEvent | undefined, start: number, end: number) => {
        for (;;) {
          const copied = event && prefixed?.encodeInto(record, event, bytes, start, end, out, pos)
          const written = copied ?? o.enrichedCodec.encodeInto(record, out, pos)
          if (written >= 0) return void (pos = written)
          const missing = -written
          const grown = Buffer.allocUnsafeSlow(Math.max(out.length * 2, out.length + missing + 1024))
          out.copy(grown, 0, 0, pos)
          out = grown
        }
      }
      // Category counts are added up per chunk: one labelled increment per record costs more.
      const counts = new Map<string, number>()
      for (let i = 0; i < count; i++) {
        const start = startOf(chunk, i)
        const end = chunk.ends[i]!
        try {
          const timed = n++ % SAMPLE_EVERY === 0
          // Synchronous unless the writer's schema must be fetched or the LLM is asked: no promise per record.
          const event = timed ? undefined : o.rawCodec.decodeSyncAt(bytes, start, end)
          const done = timed ? enrichTimed(bytes.subarray(start, end)) : event ? afterDecode(event) : o.rawCodec.decode(bytes.subarray(start, end)).then(afterDecode)
          const record = done instanceof Promise ? await done : done
          const t0 = timed ? performance.now() : 0
          encodeAt(record, event, start, end)
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
      const restored = enricher.miner.restore(snapshot as MinerSnapshot)
      templateCount.set(enricher.miner.clusterCount)
      return restored
    },
    async snapshot(sinceRevision) {
      const revision = enricher.miner.revision
      return revision === sinceRevision ? undefined : { snapshot: enricher.miner.snapshot(), revision }
    },
    async close() {},
  }
}
