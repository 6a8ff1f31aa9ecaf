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
    // A topic two services declare (the inbox: the alerter writes it, ws-fanout reads it) is created once.
    const missing = [...new Map(topics.filter((t) => !existing.has(t.topic)).map((t) => [t.topic, t])).values()]
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

/**
 * Removes a consumer group that never commits (a reader tailing a topic into memory), so it does
 * not linger in the broker's listing once its consumer disconnected. Best effort: false when the
 * broker refused or was unreachable.
 */
export async function deleteGroup(kafka: Kafka, groupId: string): Promise<boolean> {
  const admin = kafka.admin()
  try {
    await admin.connect()
    await admin.deleteGroups([groupId])
    return true
  } catch {
    return false
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
