// The enricher's transform on real worker threads (started from source as in production from the
// bundle) with real codecs over the schema registry: outputs come back in the chunk's order
// whichever thread a record went to, a bad record fails alone, the threads' metrics are served
// with the process's, templates checkpoint from all threads and restore into any, and a thread
// that dies is replaced.
import { randomBytes } from 'node:crypto'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import type { LogEvent } from '@sluice/core'
import { validateLogInput } from '@sluice/core'
import { TransformThread, TransformThreads, pack, unpack } from '@sluice/kafka'
import type { KeyedRecord, Transformed } from '@sluice/kafka'
import { createLogger, createRegistry, metricsText } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import type { EnricherConfig } from './enrich.js'
import type { EnrichedLog } from './model.js'
import { threadTemplates } from './templates.js'
import { ENRICHER_THREAD_MODULE, createEnricherTransform } from './thread.js'
import type { EnricherThreadInit } from './thread.js'
import { createTransform } from './transform.js'

interface Input {
  key: Buffer
  value: Buffer
}

/** Runs records (key, value) through a transform as one chunk of partition 0. */
function run(t: TransformThreads, input: readonly Input[]): Promise<Transformed<KeyedRecord>> {
  const records: KafkaMessage[] = input.map((r, i) => ({ key: r.key, value: r.value, offset: String(i), timestamp: '0', attributes: 0, headers: {} }))
  return t.transform({ topic: 'raw', partition: 0, records, values: records.map((r) => r.value) })
}

const SERVICES = ['checkout', 'billing', 'search', 'auth', 'cart', 'ledger', 'mailer']

async function setup() {
  const url = inject('infra').registryUrl
  const id = randomBytes(4).toString('hex')
  const registry = createRegistryClient(url)
  const raw = await AvroCodec.register<LogEvent>(registry, `t${id}.raw-value`, loadAvsc('log-event.avsc'))
  const enriched = await AvroCodec.register<EnrichedLog>(registry, `t${id}.enriched-value`, loadAvsc('enriched-log.avsc'))
  const record = (i: number) => {
    const result = validateLogInput({ service: SERVICES[i % SERVICES.length], level: i % 10 === 0 ? 'error' : 'info', message: `user u-${i} paid order ${1000 + i} in ${i % 90} ms` }, i, { tenant: 'acme', source: 'http' })
    if (!result.ok) throw new Error('invalid fixture')
    return { key: Buffer.from(`acme/${result.event.service}`), value: raw.encode(result.event), event: result.event }
  }
  const init = (enricher: EnricherConfig = {}): EnricherThreadInit => ({ enricher, registryUrl: url, raw: { subject: raw.subject, schema: raw.schema }, enriched: { subject: enriched.subject, schema: enriched.schema } })
  /** One transform thread over these codecs. */
  const thread = (o: { enricher?: EnricherConfig; metrics?: Registry; maxHeapMb?: number } = {}) =>
    TransformThread.start({ module: ENRICHER_THREAD_MODULE, init: init(o.enricher), logger: createLogger({ level: 'silent' }), registry: o.metrics ?? createRegistry({ defaultMetrics: false }), maxHeapMb: o.maxHeapMb })
  /** `n` threads as the enricher starts them. */
  const threads = async (n: number, metrics = createRegistry({ defaultMetrics: false })) => {
    const t = await TransformThreads.start({ module: ENRICHER_THREAD_MODULE, factory: createEnricherTransform, init: init(), threads: n, logger: createLogger({ level: 'silent' }), registry: metrics })
    onTestFinished(() => t.close())
    return t
  }
  return { raw, enriched, record, thread, threads }
}

describe('enricher transform threads', () => {
  it('returns every outcome in its record’s place, a bad record failing alone, and serves the threads’ metrics', async () => {
    const { enriched, record, threads } = await setup()
    const metrics = createRegistry({ defaultMetrics: false })
    const pool = await threads(2, metrics)

    const records = Array.from({ length: 2000 }, (_, i) => record(i))
    const input = records.map((r, i) => (i === 1234 ? { key: r.key, value: Buffer.from('not avro at all') } : r))
    const out = await run(pool, input)
    expect(out.outputs).toHaveLength(1999)
    expect(out.failed?.map((f) => f.index)).toEqual([1234])
    expect(String(out.failed?.[0]?.error)).toMatch(/magic byte/)
    const kept = records.filter((_, i) => i !== 1234)
    for (const [i, o] of out.outputs.entries()) {
      const e = await enriched.decode(o.value)
      expect(e.id).toBe(kept[i]!.event.id)
      expect(o.key).toBe(`acme/${e.service}`)
      expect(e.severity_text).toBe(kept[i]!.event.severity_text)
      // The raw fields' bytes are copied from the raw record: the same bytes as encoding the record whole.
      expect(o.value.equals(enriched.encode(e))).toBe(true)
      expect(e.message).toBe(kept[i]!.event.message)
    }
    // One template for the message shape, whichever thread mined it.
    const templates = new Set<string>()
    for (const o of out.outputs) templates.add((await enriched.decode(o.value)).template)
    expect([...templates]).toEqual(['user u-<NUM> paid order <NUM> in <NUM>'])

    const text = await metricsText(metrics)
    const total = [...text.matchAll(/^sluice_enricher_records_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0)
    expect(total).toBe(1999)
  })

  it('decodes records in place from the packed chunk: one cut short or with bytes after it fails alone', async () => {
    const { raw, enriched, record } = await setup()
    const transform = createTransform({ enricher: {}, rawCodec: raw, enrichedCodec: enriched, registry: createRegistry({ defaultMetrics: false }) })
    const values = Array.from({ length: 5 }, (_, i) => record(i).value)
    // Record 1 loses its last byte (its decoder would run into record 2's bytes); record 3 gains one.
    values[1] = values[1]!.subarray(0, values[1]!.length - 1)
    values[3] = Buffer.concat([values[3]!, Buffer.from([0])])
    const result = await transform.run(pack(values))
    expect(result.failures.map((f) => [f.index, f.code, f.canRetry])).toEqual([
      [1, 'DECODE_FAILED', false],
      [3, 'DECODE_FAILED', false],
    ])
    expect(result.failures.map((f) => f.message)).toEqual([expect.stringMatching(/truncated/), expect.stringMatching(/trailing data/)])
    const out = unpack(result)
    expect(out.map((b) => b.length > 0)).toEqual([true, false, true, false, true])
    for (const i of [0, 2, 4]) expect((await enriched.decode(out[i]!)).id).toBe((await raw.decode(values[i]!)).id)
  })

  it('checkpoints templates from every thread and restores them into a fresh transform', async () => {
    const { raw, enriched, record, threads } = await setup()
    const pool = await threads(2)
    const templates = threadTemplates(pool)
    // Each service gets its own message shape (its own number of words); after three values the
    // varying word becomes a parameter.
    const shaped = (i: number) => {
      const r = record(i)
      const stages = 'stage '.repeat(SERVICES.indexOf(r.event.service) + 1)
      const event = { ...r.event, message: `${stages}${['alpha', 'beta', 'gamma'][i % 3]} finished` }
      return { key: r.key, value: raw.encode(event) }
    }
    await run(pool, Array.from({ length: 200 }, (_, i) => shaped(i)))
    const checkpoint = await templates.templates(-1, 1_000_000)
    expect(checkpoint?.clusters).toBe(SERVICES.length)
    expect(await templates.templates(checkpoint!.revision, 1_000_000)).toBeUndefined()

    const fresh = new TransformThreads([createTransform({ enricher: {}, rawCodec: raw, enrichedCodec: enriched, registry: createRegistry({ defaultMetrics: false }) })])
    expect(await threadTemplates(fresh).restoreTemplates(checkpoint!.bytes)).toBe(SERVICES.length)
    const again = await run(fresh, [shaped(3)])
    expect((await enriched.decode(again.outputs[0]!.value)).template).toBe('stage stage stage stage <*> finished')
  })

  it('fails to start with the worker’s reason when the rules are invalid', async () => {
    const { thread } = await setup()
    const started = thread({ enricher: { rules: { rules: [{ id: 'x', category: 'nonsense' }] } } })
    await expect(started).rejects.toThrow(/failed to start.*category/s)
  })

  it('replaces a thread that died (here: out of its heap), failing only the request in flight as retryable', async () => {
    const { enriched, record, thread: startThread } = await setup()
    const thread = await startThread({ maxHeapMb: 24 })
    onTestFinished(() => thread.close())
    const pool = new TransformThreads([thread])
    const known = { version: 2 as const, clusters: [{ id: 'c1', tokens: ['user', 'paid', 'order', 'in'], gaps: [null, '<*>', null, '<NUM>', '<NUM>'], size: 5, aliases: [] }] }
    await thread.restore(known)
    const huge = { version: 2 as const, clusters: Array.from({ length: 300_000 }, (_, i) => ({ id: `c${i}`, tokens: Array.from({ length: 12 }, (_, j) => `token-${i}-${j}`), gaps: Array.from({ length: 13 }, () => null), size: 1, aliases: [] })) }
    const died = await thread.restore(huge).catch((err: unknown) => err)
    expect(died).toMatchObject({ code: 'TRANSFORM_FAILED', canRetry: true })
    // The replacement starts from the last snapshot it was given, and works.
    const out = await run(pool, [record(7)])
    expect((await enriched.decode(out.outputs[0]!.value)).template).toBe('user <*> paid order <NUM> in <NUM>')
    const checkpoint = await threadTemplates(pool).templates(-1, 1_000_000)
    expect(checkpoint?.clusters).toBe(1)
  })
})
