// The bench's own Kafka client (plain kafkajs, not @sluice/kafka: the raw baseline must measure
// kafkajs itself) and the topic bookkeeping around each section: fresh topics per run, their
// record counts for cross-checking what the gateway acknowledged, deletion at the end so repeated
// runs do not fill the broker's disk.
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import type { Producer } from 'kafkajs'
import type { Infra } from '../infra/providers.js'

export function benchKafka(infra: Infra): Kafka {
  return new Kafka({
    clientId: 'sluice-bench',
    brokers: infra.kafkaBrokers.split(',').map((b) => b.trim()).filter(Boolean),
    logLevel: logLevel.WARN,
    connectionTimeout: 5000,
  })
}

/**
 * The producer the gateway's BatchingProducer would be without the batching: idempotent,
 * acks=-1 (per send), one request in flight, the same (murmur2, Java-compatible) partitioner.
 */
export function benchProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
}

export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] })
  } finally {
    await admin.disconnect()
  }
}

/** Records in a topic (sum of high watermarks; the topic is fresh, so low watermarks are 0). */
export async function topicRecordCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const offsets = await admin.fetchTopicOffsets(topic)
    return offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)
  } finally {
    await admin.disconnect()
  }
}

/** Best effort: a topic that is already gone or never existed is not an error here. */
export async function deleteTopics(kafka: Kafka, topics: readonly string[]): Promise<void> {
  if (topics.length === 0) return
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const doomed = topics.filter((t) => existing.has(t))
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 30_000 })
  } finally {
    await admin.disconnect()
  }
}
