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
    const [p0] = await admin.fetchTopicOffsets(topic)
    expect(Number(p0!.high)).toBe(5050)
  })
})
