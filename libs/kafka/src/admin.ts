// Topic administration: the topics a service needs are created at start-up, idempotently.
import type { Kafka } from 'kafkajs'

/** A replica count, or `auto`: decided from the cluster's size when the topic is created. */
export type ReplicaSetting = number | 'auto'

export interface TopicSpec {
  topic: string
  numPartitions: number
  replicationFactor: ReplicaSetting
  /** The topic's min.insync.replicas; absent: the broker's default. */
  minInsyncReplicas?: ReplicaSetting
  configs?: Record<string, string>
}

/**
 * `auto` on a cluster of `brokers`: three copies where there are three brokers or more (one may
 * die and writes with acks=all still need two), else one per broker; min.insync.replicas 2 with
 * three copies, else unset (the broker's default). Explicit numbers are kept as given.
 */
export function replicaPlan(brokers: number, replication: ReplicaSetting, minInsync: ReplicaSetting | undefined): { replicationFactor: number; minInsyncReplicas: number | undefined } {
  const replicationFactor = replication === 'auto' ? Math.max(1, Math.min(3, brokers)) : replication
  const minInsyncReplicas = minInsync === 'auto' ? (replicationFactor >= 3 ? 2 : undefined) : minInsync
  return { replicationFactor, minInsyncReplicas }
}

export async function ensureTopics(kafka: Kafka, topics: readonly TopicSpec[]): Promise<void> {
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = new Set(await admin.listTopics())
    // A topic two services declare (the inbox: the alerter writes it, ws-fanout reads it) is created once.
    const missing = [...new Map(topics.filter((t) => !existing.has(t.topic)).map((t) => [t.topic, t])).values()]
    if (missing.length === 0) return
    const needsSize = missing.some((t) => t.replicationFactor === 'auto' || t.minInsyncReplicas === 'auto')
    const brokers = needsSize ? (await admin.describeCluster()).brokers.length : 0
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((t) => {
        const plan = replicaPlan(brokers, t.replicationFactor, t.minInsyncReplicas)
        const configs = { ...(plan.minInsyncReplicas !== undefined && { 'min.insync.replicas': String(plan.minInsyncReplicas) }), ...t.configs }
        return {
          topic: t.topic,
          numPartitions: t.numPartitions,
          replicationFactor: plan.replicationFactor,
          configEntries: Object.entries(configs).map(([name, value]) => ({ name, value })),
        }
      }),
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
