// Raw producer baseline: what kafkajs alone achieves against the same broker in the same run,
// the ceiling the gateway is measured against — kafkajs 2.2.4 as published (the `kafkajs-upstream`
// alias), which is what a user of the library gets; beside it the same producer with Sluice's
// kafkajs patches (deploy/patches), what Sluice's own producers run on. Same records as the gateway load, encoded as the
// gateway encodes them (avro.ts), so the bytes on the wire match; encoding happens before the
// clock starts, so this measures producing only. Same producer settings as @sluice/kafka's
// BatchingProducer: idempotent, acks=-1, one request in flight; a fresh 3-partition topic.
//
// Several sendBatch sizes are measured (BENCH_RAW_BATCH_RECORDS, a comma list) and the best is
// the baseline: kafkajs groups a batch's messages by partition with an O(n²) array copy
// (kafkajs PR #1576, unmerged), so past ~1-2 000 records a bigger sendBatch gets *slower* —
// the table shows it rather than hiding it behind one chosen size.
import type { Message, Producer } from 'kafkajs'
import { GatewayEncoder, messageBytes } from '../avro.js'
import { cpuWindow, kafkaBrokerPid } from '../cpu.js'
import type { CpuReport } from '../cpu.js'
import { benchKafka, benchProducer, createTopic, upstreamKafka } from '../kafka.js'
import { MB, cpuRows } from '../section.js'
import type { Section, SectionResult } from '../section.js'
import { percentile } from '../table.js'
import type { Row } from '../table.js'

const SECTION = 'raw kafkajs producer'
const PRODUCER_CPU = 'bench (kafkajs producer)'

interface RunResult {
  batchSize: number
  records: number
  seconds: number
  recordsPerS: number
  latenciesMs: number[]
  cpu: CpuReport
}

/** Produces slices of `pool` (wrapping around) back to back for `ms`. */
async function produceFor(producer: Producer, topic: string, pool: readonly Message[], batchSize: number, ms: number): Promise<Omit<RunResult, 'cpu'>> {
  let cursor = 0
  let records = 0
  const latencies: number[] = []
  const t0 = performance.now()
  const deadline = t0 + ms
  while (performance.now() < deadline) {
    const start = cursor % pool.length
    cursor += batchSize
    let batch = pool.slice(start, start + batchSize)
    if (batch.length < batchSize) batch = batch.concat(pool.slice(0, batchSize - batch.length))
    const s = performance.now()
    await producer.sendBatch({ topicMessages: [{ topic, messages: batch }], acks: -1 })
    latencies.push(performance.now() - s)
    records += batch.length
  }
  const seconds = (performance.now() - t0) / 1000
  return { batchSize, records, seconds, recordsPerS: records / seconds, latenciesMs: latencies.sort((a, b) => a - b) }
}

export const rawProducer: Section = {
  name: 'raw',
  async run(ctx): Promise<SectionResult> {
    const { config } = ctx
    const topic = `bench-${config.runId}.raw-baseline`
    const kafka = benchKafka(ctx.infra)
    ctx.topics.add(topic)
    await createTopic(kafka, topic, config.partitions)
    const encoder = await GatewayEncoder.create(ctx.infra.registryUrl, `${topic}-value`)
    const pool = ctx.bodies.flatMap((b) => b.inputs.map((input, i) => encoder.message(input, i)))
    const recordBytes = pool.reduce((s, m) => s + messageBytes(m), 0) / pool.length

    const measure = async (label: string, client: Parameters<typeof benchProducer>[0]): Promise<RunResult[]> => {
      const producer = benchProducer(client)
      await producer.connect()
      const runs: RunResult[] = []
      try {
        await produceFor(producer, topic, pool, Math.min(1000, pool.length), Math.min(config.warmupS, 2) * 1000)
        for (const size of config.rawBatchRecords) {
          const batchSize = Math.min(size, pool.length)
          ctx.log(`raw: ${label}, producing for ${config.rawDurationS} s, sendBatch of ${batchSize}`)
          const endCpu = cpuWindow({ 'kafka broker': kafkaBrokerPid() }, PRODUCER_CPU)
          const run = await produceFor(producer, topic, pool, batchSize, config.rawDurationS * 1000)
          runs.push({ ...run, cpu: endCpu() })
        }
      } finally {
        await producer.disconnect()
      }
      return runs
    }
    const runs = await measure('upstream kafkajs', upstreamKafka(ctx.infra))
    const patched = await measure('patched kafkajs', kafka)

    const bestOf = (list: RunResult[]) => list.reduce((a, b) => (b.recordsPerS > a.recordsPerS ? b : a))
    const best = bestOf(runs)
    const bestPatched = bestOf(patched)
    ctx.figures.set('raw.recordsPerS', best.recordsPerS)
    const rows: Row[] = [
      { section: SECTION, metric: `records/s (best: sendBatch of ${best.batchSize})`, value: best.recordsPerS, unit: 'records/s' },
      { section: SECTION, metric: 'throughput (Avro key+value)', value: (best.recordsPerS * recordBytes) / MB, unit: 'MB/s', decimals: 1 },
      { section: SECTION, metric: 'record size (Avro key+value)', value: recordBytes, unit: 'bytes', decimals: 0 },
    ]
    const perRun = (prefix: string, run: RunResult) => {
      const cpuPct = run.cpu.processes[PRODUCER_CPU] ?? NaN
      rows.push(
        { section: SECTION, metric: `${prefix}sendBatch of ${run.batchSize}: records/s`, value: run.recordsPerS, unit: 'records/s' },
        { section: SECTION, metric: `${prefix}sendBatch of ${run.batchSize}: latency p50 / p99`, value: `${percentile(run.latenciesMs, 50).toFixed(1)} / ${percentile(run.latenciesMs, 99).toFixed(1)}`, unit: 'ms' },
        // The client's own cost per record: the floor under any kafkajs-based gateway.
        { section: SECTION, metric: `${prefix}sendBatch of ${run.batchSize}: producer CPU per record`, value: (cpuPct / 100 / run.recordsPerS) * 1e6, unit: 'µs/record', decimals: 1 },
      )
    }
    for (const run of runs) perRun('', run)
    rows.push({ section: SECTION, metric: `with Sluice's kafkajs patches: records/s (best: sendBatch of ${bestPatched.batchSize})`, value: bestPatched.recordsPerS, unit: 'records/s' })
    for (const run of patched) perRun('  patched, ', run)
    rows.push(...cpuRows(SECTION, best.cpu))
    return {
      rows,
      detail: {
        topic,
        recordBytes,
        runs: runs.map(({ latenciesMs, ...r }) => ({ ...r, latencyMs: { p50: percentile(latenciesMs, 50), p99: percentile(latenciesMs, 99) } })),
        patched: patched.map(({ latenciesMs, ...r }) => ({ ...r, latencyMs: { p50: percentile(latenciesMs, 50), p99: percentile(latenciesMs, 99) } })),
      },
    }
  },
}
