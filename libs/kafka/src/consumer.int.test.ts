// The batch consumer runner against the real broker: offsets are committed only after the sink
// made a flush durable, and a failing sink is retried without committing or losing records.
import { randomBytes } from 'node:crypto'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { createLogger, createRegistry } from '@sluice/observability'
import { createKafka } from './client.js'
import { ensureTopics } from './admin.js'
import { BatchingProducer } from './producer.js'
import { DeadLetterQueue } from './dlq.js'
import { BatchConsumer } from './consumer.js'

const until = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('BatchConsumer', () => {
  it('retries a failing sink with backoff, commits only after it succeeds, and loses nothing', async () => {
    const infra = inject('infra')
    const id = randomBytes(4).toString('hex')
    const topic = `t${id}.consumer`
    const logger = createLogger({ level: 'silent' })
    const kafka = createKafka({ brokers: infra.kafkaBrokers.split(','), clientId: `c${id}`, logger })
    await ensureTopics(kafka, [topic, `${topic}.dlq`].map((t) => ({ topic: t, numPartitions: 2, replicationFactor: 1 })))
    const producer = new BatchingProducer(kafka)
    await producer.connect()
    onTestFinished(() => producer.close())
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
})
