// Poison records: bytes on logs.raw that are not valid Avro in the Confluent framing go to the
// DLQ with the reason and source offset, and the good records around them are still stored.
import { describe, expect, it } from 'vitest'
import { DLQ_HEADER, createKafka } from '@sluice/kafka'
import type { KafkaMessage } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { validateLogInput } from '@sluice/core'
import type { LogEvent } from '@sluice/core'
import { createLogger } from '@sluice/observability'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

describe('dead-letter queue', () => {
  it('moves undecodable records to the DLQ with reason and offset without blocking the partition', async () => {
    const iso = isolation({ KAFKA_TOPIC_PARTITIONS: '1' })
    const rt = await startSluice(['enricher', 'clickhouse-sink', 'query-api'], iso)
    const logger = createLogger({ level: 'warn' })
    const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'dlq-test', logger })
    const codec = await AvroCodec.register<LogEvent>(createRegistryClient(iso.env.SCHEMA_REGISTRY_URL!), `${iso.topicRaw}-value`, loadAvsc('log-event.avsc'))
    const good = (id: string) => {
      const r = validateLogInput({ id, message: `good ${id}`, service: 'dlq' }, 0, { tenant: 'default', source: 'kafka' })
      if (!r.ok) throw new Error('fixture invalid')
      return { key: 'default/dlq', value: codec.encode(r.event) }
    }
    const truncated = codec.encode((validateLogInput({ message: 'cut short' }, 0, { tenant: 'default', source: 'kafka' }) as { ok: true; event: LogEvent }).event).subarray(0, 12)

    const producer = kafka.producer()
    await producer.connect()
    await producer.send({
      topic: iso.topicRaw,
      messages: [
        good('a'),
        { key: 'x', value: Buffer.from('{"message":"plain JSON, no framing"}') },
        good('b'),
        { key: 'y', value: truncated },
        { key: 'z', value: Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0, 1, 2, 3]) },
        good('c'),
      ],
    })
    await producer.disconnect()

    const q = rt.addresses['query-api']!
    const stored = await waitFor('good rows', async () => {
      const { logs } = (await (await fetch(`${q}/v1/logs?service=dlq`)).json()) as { logs: { id: string }[] }
      return logs.length >= 3 ? logs : undefined
    })
    expect(stored.map((l) => l.id).sort()).toEqual(['a', 'b', 'c'])

    const consumer = kafka.consumer({ groupId: `dlq-reader-${iso.database}` })
    await consumer.connect()
    await consumer.subscribe({ topic: iso.topicDlq, fromBeginning: true })
    const dead: KafkaMessage[] = []
    await consumer.run({ eachMessage: async ({ message }) => void dead.push(message) })
    await waitFor('three DLQ records', async () => (dead.length >= 3 ? true : undefined))
    await consumer.disconnect()

    const h = (m: KafkaMessage, k: string) => m.headers?.[k]?.toString()
    expect(dead.map((m) => h(m, DLQ_HEADER.offset))).toEqual(['1', '3', '4'])
    expect(dead.map((m) => h(m, DLQ_HEADER.topic))).toEqual([iso.topicRaw, iso.topicRaw, iso.topicRaw])
    expect(h(dead[0]!, DLQ_HEADER.reason)).toMatch(/magic byte 123/)
    expect(h(dead[1]!, DLQ_HEADER.code)).toBe('DECODE_FAILED')
    expect(h(dead[2]!, DLQ_HEADER.reason)).toMatch(/schema id/)
    expect(h(dead[0]!, DLQ_HEADER.stage)).toBe('enricher')
    expect(dead[0]!.value?.toString()).toBe('{"message":"plain JSON, no framing"}')
  })
})
