// The batch consumer runner against the real broker: offsets are committed only after the sink
// made a flush durable, a failing sink is retried without committing or losing records, and
// chunks decoded ahead (decodeBatch) still arrive once each, in order, with bad records dead-lettered.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { SluiceError } from '@sluice/core'
import { createLogger, createRegistry } from '@sluice/observability'
import { createKafka } from './client.js'
import { ensureTopics } from './admin.js'
import { BatchingProducer } from './producer.js'
import { DeadLetterQueue } from './dlq.js'
import { BatchConsumer } from './consumer.js'
import type { Decoded } from './consumer.js'

const until = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** A fresh topic (and its DLQ) with `partitions` partitions, a client and a connected producer. */
async function setup(name: string, partitions: number) {
  const id = randomBytes(4).toString('hex')
  const topic = `t${id}.${name}`
  const logger = createLogger({ level: 'silent' })
  const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: `c${id}`, logger })
  await ensureTopics(kafka, [topic, `${topic}.dlq`].map((t) => ({ topic: t, numPartitions: partitions, replicationFactor: 1 })))
  const producer = new BatchingProducer(kafka)
  await producer.connect()
  onTestFinished(() => producer.close())
  return { id, topic, logger, kafka, producer }
}

describe('BatchConsumer', () => {
  it('retries a failing sink with backoff, commits only after it succeeds, and loses nothing', async () => {
    const { id, topic, logger, kafka, producer } = await setup('consumer', 2)
    await producer.send(topic, Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 5}`, value: String(i) })))

    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    const committed = async () => {
      const [offsets] = await admin.fetchOffsets({ groupId: `g${id}`, topics: [topic] })
      return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
    }

    let attempts = 0
    let failing = true
    const stored: number[] = []
    const consumer = new BatchConsumer<number>({
      kafka,
      groupId: `g${id}`,
      topics: [topic],
      stage: 'test',
      decode: (m) => Number(m.value!.toString()),
      sink: async (items) => {
        attempts++
        if (failing) throw new Error('ClickHouse is down')
        stored.push(...items)
      },
      dlq: new DeadLetterQueue(producer, `${topic}.dlq`, 'test'),
      logger,
      registry: createRegistry({ defaultMetrics: false }),
      maxBatchRecords: 1000,
      flushIntervalMs: 100,
      retryInitialMs: 50,
      retryMaxMs: 200,
    })
    await consumer.start()
    onTestFinished(() => consumer.close())

    await until('three failed attempts', () => attempts >= 3)
    expect(await committed()).toBe(0)
    failing = false
    await until('records stored', () => stored.length >= 100)
    await until('offsets committed', async () => (await committed()) === 100)
    expect([...stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('decodes chunks ahead and across batches: bad records to the DLQ, failed chunks, retryable records and a refused DLQ send retried, the rest once and in order', async () => {
    const { id, topic, logger, kafka, producer } = await setup('chunks', 1)
    const total = 3000
    const bad = new Set([5, 999, 1000, 2500])
    // Two sends: the second lands while the first is being consumed, so there are several batches.
    const value = (i: number) => (bad.has(i) ? `bad-${i}` : String(i))
    await producer.send(topic, Array.from({ length: 1500 }, (_, i) => ({ key: 'k', value: value(i) })))

    let chunkFailures = 0
    let retryableFailures = 0
    // The DLQ refuses the first dead letters: that chunk is fetched again, nothing after it is committed first.
    let dlqFailures = 1
    const dlq = new (class extends DeadLetterQueue {
      override async send(letters: Parameters<DeadLetterQueue['send']>[0]): Promise<void> {
        if (dlqFailures-- > 0) throw new Error('the DLQ topic is unavailable')
        return super.send(letters)
      }
    })(producer, `${topic}.dlq`, 'chunks')
    const stored: number[] = []
    const registry = createRegistry({ defaultMetrics: false })
    const consumer = new BatchConsumer<number>({
      kafka,
      groupId: `g${id}`,
      topics: [topic],
      stage: 'chunks',
      // As if on another thread: each chunk takes a while, and chunks overlap.
      decodeBatch: async (messages): Promise<Decoded<number>[]> => {
        await sleep(Math.floor(Math.random() * 5))
        const values = messages.map((m) => m.value!.toString())
        if (values.includes('1234') && chunkFailures++ < 2) throw new Error('the decoding thread died')
        return values.map((v) => {
          if (v.startsWith('bad-')) return { error: new SluiceError('DECODE_FAILED', `not a number: ${v}`) }
          if (v === '777' && retryableFailures++ < 2) return { error: new SluiceError('REGISTRY_UNAVAILABLE', 'registry down', { canRetry: true }) }
          return { item: Number(v) }
        })
      },
      decodeChunkRecords: 100,
      decodeAheadChunks: 4,
      sink: async (items) => {
        await sleep(5)
        stored.push(...items)
      },
      dlq,
      logger,
      registry,
      maxBatchRecords: 400,
      flushIntervalMs: 100,
      retryInitialMs: 20,
      retryMaxMs: 50,
    })
    await consumer.start()
    onTestFinished(() => consumer.close())
    await until('the first records', () => stored.length > 0)
    await producer.send(topic, Array.from({ length: total - 1500 }, (_, i) => ({ key: 'k', value: value(1500 + i) })))

    const expected = Array.from({ length: total }, (_, i) => i).filter((i) => !bad.has(i))
    await until('every good record', () => stored.length >= expected.length)
    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    await until('offsets committed', async () => Number((await admin.fetchOffsets({ groupId: `g${id}`, topics: [topic] }))[0]!.partitions[0]!.offset) === total)
    expect(stored).toEqual(expected)
    expect(chunkFailures).toBeGreaterThanOrEqual(2)
    expect(retryableFailures).toBe(3)
    expect(dlqFailures).toBeLessThan(0)
    const metrics = await registry.metrics()
    expect(metrics).toContain(`sluice_chunks_events_dropped_total{reason="dlq"} ${bad.size}`)
    expect(metrics).toContain(`sluice_chunks_events_received_total ${total}`)
  })
})
