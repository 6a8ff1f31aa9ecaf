// The coalescing producer against the real broker: requests stay under the broker's per-batch
// size limit however large one send() is, and every record lands once.
import { randomBytes } from 'node:crypto'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { createLogger } from '@sluice/observability'
import { createKafka } from './client.js'
import { ensureTopics } from './admin.js'
import { BatchingProducer } from './producer.js'

describe('BatchingProducer', () => {
  it('splits a send far above message.max.bytes into acknowledged requests', async () => {
    const id = randomBytes(4).toString('hex')
    const topic = `t${id}.big`
    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: `p${id}`, logger: createLogger({ level: 'silent' }) })
    await ensureTopics(kafka, [{ topic, numPartitions: 1, replicationFactor: 1 }])
    const producer = new BatchingProducer(kafka)
    await producer.connect()
    onTestFinished(() => producer.close())

    // 6 MB in one call, one partition: six times the broker's default limit per record batch.
    const value = Buffer.alloc(1200, 'x')
    await producer.send(topic, Array.from({ length: 5000 }, (_, i) => ({ key: String(i), value })))
    // Concurrent small sends coalesce and settle too.
    await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send(topic, [{ key: `s${i}`, value: Buffer.from('small') }])))

    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    onTestFinished(() => admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => undefined))
    const [p0] = await admin.fetchTopicOffsets(topic)
    expect(Number(p0!.high)).toBe(5050)
  })
})

describe('BatchingProducer after a refused request', () => {
  it('fails the sends of a request the broker refuses and keeps producing afterwards', async () => {
    const id = randomBytes(4).toString('hex')
    const topic = `t${id}.refused`
    const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: `r${id}`, logger: createLogger({ level: 'silent' }) })
    await ensureTopics(kafka, [{ topic, numPartitions: 2, replicationFactor: 1 }])
    const producer = new BatchingProducer(kafka, { maxBatchBytes: 4_000_000, produceTimeoutMs: 20_000 })
    await producer.connect()
    onTestFinished(() => producer.close())

    await producer.send(topic, [{ key: 'a', value: Buffer.from('before') }])
    // One record over the broker's message.max.bytes (1 MiB) in the same request as a good one for
    // the other partition: the broker refuses one partition (MESSAGE_TOO_LARGE), writes the other.
    const refused = producer.send(topic, [
      { key: 'a', partition: 0, value: Buffer.alloc(1_500_000, 'x') },
      { key: 'b', partition: 1, value: Buffer.from('written') },
    ])
    await expect(refused).rejects.toMatchObject({ code: 'KAFKA_UNAVAILABLE' })
    await producer.send(topic, [
      { key: 'a', partition: 0, value: Buffer.from('after') },
      { key: 'b', partition: 1, value: Buffer.from('after') },
    ])

    const admin = kafka.admin()
    await admin.connect()
    onTestFinished(() => admin.disconnect())
    onTestFinished(() => admin.deleteTopics({ topics: [topic], timeout: 10_000 }).catch(() => undefined))
    const offsets = await admin.fetchTopicOffsets(topic)
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(4)
  })
})
