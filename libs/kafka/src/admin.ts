// Topic administration: the topics a service needs are created at start-up, idempotently.
import type { Kafka } from 'kafkajs'

export interface TopicSpec {
  topic: string
  numPartitions: number
  replicationFactor: number
  configs?: Record<string, string>
}

export async function ensureTopics(kafka: Kafka, topics: readonly TopicSpec[]): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter((t) => !existing.has(t.topic))
    if (missing.length === 0) return
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => ({
        topic: t.topic,
        numPartitions: t.numPartitions,
        replicationFactor: t.replicationFactor,
        configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    })
  } catch (err) {
    // Another instance may have created the topic between list and create.
    if (!(err instanceof Error && /already exists/i.test(err.message))) throw err
  } finally {
    await admin.disconnect()
  }
}
