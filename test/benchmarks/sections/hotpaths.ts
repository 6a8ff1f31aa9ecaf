// Hot paths of ingest, measured in this process without sockets or Kafka: what one record costs
// in each step the gateway runs (NDJSON parse, validation including minting a UUIDv7, Avro
// encoding), what decoding costs each consumer, and the whole POST /v1/logs handler (fastify
// inject, a producer that acknowledges at once), and the enricher's per-record work (decode →
// enrich → encode, what each transform thread does). µs per record translate directly into a
// one-core ceiling, which is what the gateway, a single-threaded process, is held to.
import { uuidv7, validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import { LOGHUB_DATASETS, TemplateMiner, createTransform, loadLoghub } from '@sluice/enricher'
import { pack } from '@sluice/kafka'
import type { EnrichedLog } from '@sluice/enricher'
import { buildApp, loadConfig } from '@sluice/gateway'
import type { BatchingProducer } from '@sluice/kafka'
import { createLogger, createRegistry } from '@sluice/observability'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import type { Section, SectionResult } from '../section.js'
import type { Row } from '../table.js'

const SECTION = 'hot paths (1 core)'
const MIN_MS = 800

/** µs per item of `fn`, which handles `items` items per call; warmed up first. */
async function perItemUs(items: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < 3; i++) await fn()
  let rounds = 0
  const t0 = performance.now()
  while (performance.now() - t0 < MIN_MS) {
    await fn()
    rounds++
  }
  return ((performance.now() - t0) * 1000) / (rounds * items)
}

/** Stands in for Kafka: acknowledges at once, so only the gateway's own work is timed. */
function instantProducer(): BatchingProducer {
  const fake: Pick<BatchingProducer, 'send' | 'connect' | 'close' | 'connected'> = {
    send: () => Promise.resolve(),
    connect: () => Promise.resolve(),
    close: () => Promise.resolve(),
    connected: true,
  }
  // BatchingProducer has #private fields, so no object literal is structurally one.
  return fake as unknown as BatchingProducer
}

export const hotPaths: Section = {
  name: 'hotpaths',
  async run(ctx): Promise<SectionResult> {
    const body = ctx.bodies[0]!
    const text = body.body.toString('utf8')
    const lines = text.split('\n').filter(Boolean)
    const n = lines.length
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    const defaults = { tenant: 'default', source: 'http' as const }
    const codec = await AvroCodec.register<LogEvent>(createRegistryClient(ctx.infra.registryUrl), `bench-${ctx.config.runId}.hotpaths-value`, loadAvsc('log-event.avsc'))
    const events = parsed.map((r, i) => {
      const v = validateLogInput(r, i, defaults)
      if (!v.ok) throw new Error(`generated record invalid: ${JSON.stringify(v.errors)}`)
      return v.event
    })

    ctx.log('hot paths: timing parse, validate, encode and the whole handler')
    const parseUs = await perItemUs(n, () => {
      for (const l of lines) JSON.parse(l)
    })
    const validateUs = await perItemUs(n, () => {
      for (let i = 0; i < n; i++) validateLogInput(parsed[i], i, defaults)
    })
    const uuidUs = await perItemUs(n, () => {
      for (let i = 0; i < n; i++) uuidv7()
    })
    const encodeUs = await perItemUs(n, () => {
      for (const e of events) codec.encode(e)
    })
    const encoded = events.map((e) => codec.encode(e))
    const decodeUs = await perItemUs(n, async () => {
      for (const b of encoded) await codec.decode(b)
    })

    const enrichedCodec = await AvroCodec.register<EnrichedLog>(createRegistryClient(ctx.infra.registryUrl), `bench-${ctx.config.runId}.hotpaths-enriched-value`, loadAvsc('enriched-log.avsc'))
    const transform = createTransform({ enricher: {}, rawCodec: codec, enrichedCodec, registry: createRegistry({ defaultMetrics: false }) })
    const transformUs = await perItemUs(n, () => transform.run(pack(encoded)))

    // The template miner alone, as each enricher thread runs it: a fresh miner learning the
    // eight Loghub-2k datasets' 16 000 messages.
    const loghub = LOGHUB_DATASETS.flatMap((d) => loadLoghub(d).content)
    const minerUs = await perItemUs(loghub.length, () => {
      const miner = new TemplateMiner()
      for (const line of loghub) miner.add(line)
    })

    const app = buildApp(loadConfig({ LOG_LEVEL: 'warn' }), {
      logger: createLogger({ level: 'warn' }),
      registry: createRegistry({ defaultMetrics: false }),
      producer: instantProducer(),
      codec,
      checks: {},
    })
    await app.ready()
    let failures = 0
    const handlerUs = await perItemUs(n, async () => {
      const res = await app.inject({ method: 'POST', url: '/v1/logs', headers: { 'content-type': 'application/x-ndjson' }, payload: body.body })
      if (res.statusCode !== 200) failures++
    })
    await app.close()
    if (failures > 0) throw new Error(`the gateway handler answered non-200 ${failures} times`)

    const ceiling = (us: number) => 1e6 / us
    const rows: Row[] = [
      { section: SECTION, metric: 'NDJSON parse (JSON.parse per line)', value: parseUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: 'validate (zod) + toEvent, incl. UUIDv7', value: validateUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: '  of which UUIDv7 alone', value: uuidUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: 'Avro encode (Confluent framing)', value: encodeUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: 'Avro decode (what consumers pay)', value: decodeUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: 'POST /v1/logs handler, Kafka excluded', value: handlerUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: '  = one-core ceiling without Kafka', value: ceiling(handlerUs), unit: 'records/s' },
      { section: SECTION, metric: 'enricher transform (decode → enrich → encode)', value: transformUs, unit: 'µs/record', decimals: 2 },
      { section: SECTION, metric: '  = one-thread ceiling without Kafka', value: ceiling(transformUs), unit: 'records/s' },
      { section: SECTION, metric: 'template mining (Loghub-2k content, fresh miner)', value: ceiling(minerUs), unit: 'lines/s', target: { op: '>=', value: 300_000 } },
    ]
    ctx.figures.set('hotpaths.handlerUs', handlerUs)
    return { rows, detail: { recordsPerCall: n, parseUs, validateUs, uuidUs, encodeUs, decodeUs, handlerUs, transformUs } }
  },
}
