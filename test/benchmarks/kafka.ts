// The bench's own Kafka clients and the topic bookkeeping around each section: fresh topics per
// run and their record counts for cross-checking what the gateway acknowledged (deleted at the end
// by ../infra/topics.ts, so repeated runs do not fill the broker). Two clients: kafkajs as Sluice installs it
// (patched, see deploy/patches) for admin and filling topics, and upstream kafkajs 2.2.4 as
// published (`kafkajs-upstream`, an npm alias patch-package does not touch) for the raw producer
// baseline, which measures what the library alone gives a user.
import { Kafka, Partitioners, logLevel } from 'kafkajs'
import type { Producer } from 'kafkajs'
import * as upstream from 'kafkajs-upstream'
import type { Infra } from '../infra/providers.js'

const options = (infra: Infra) => ({
  clientId: 'sluice-bench',
  brokers: infra.kafkaBrokers.split(',').map((b) => b.trim()).filter(Boolean),
  logLevel: logLevel.WARN,
  connectionTimeout: 5000,
})

export function benchKafka(infra: Infra): Kafka {
  return new Kafka(options(infra))
}

/** kafkajs 2.2.4 exactly as published, none of Sluice's patches. */
export function upstreamKafka(infra: Infra): upstream.Kafka {
  return new upstream.Kafka(options(infra))
}

/**
 * The producer the gateway's BatchingProducer would be without the batching: idempotent,
 * acks=-1 (per send), one request in flight, the same (murmur2, Java-compatible) partitioner.
 */
export function benchProducer(kafka: Kafka | upstream.Kafka): Producer {
  return (kafka as Kafka).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
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
