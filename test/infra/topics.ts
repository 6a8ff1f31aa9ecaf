// Deleting the topics a test or a bench run created, so a stack kept up between runs does not
// gather them (the broker's heap fills with their metrics).
import type { Kafka } from 'kafkajs'

/**
 * Best effort: a topic that is already gone or never existed is not an error here. With `prefix`,
 * every topic named under it goes too (those the services created for themselves).
 */
export async function deleteTopics(kafka: Kafka, topics: readonly string[], prefix?: string): Promise<void> {
  if (topics.length === 0 && prefix === undefined) return
  const admin = kafka.admin()
  await admin.connect()
  try {
    const existing = await admin.listTopics()
    const wanted = new Set(topics)
    const doomed = existing.filter((t) => wanted.has(t) || (prefix !== undefined && t.startsWith(prefix)))
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed, timeout: 30_000 })
  } finally {
    await admin.disconnect()
  }
}
