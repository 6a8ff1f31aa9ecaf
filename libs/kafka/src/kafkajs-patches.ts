// kafkajs groups a produce request's messages by partition with an array spread per message,
// O(n²) in the batch size (tulios/kafkajs#1576, merged upstream only in a fork, never released):
// at 6 000 records per request it halves producer throughput. The same function in linear time
// is put in Node's module cache before kafkajs first loads it. Imported for its side effect by
// client.ts, ahead of kafkajs itself.
import Module, { createRequire } from 'node:module'

interface GroupArgs<M> {
  topic: string
  partitionMetadata: readonly unknown[]
  messages: readonly M[]
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number
}

function groupMessagesPerPartition<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {}
  if (partitionMetadata.length === 0) return result
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message })
    ;(result[partition] ??= []).push(message)
  }
  return result
}

const require = createRequire(import.meta.url)
const file = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js')
if (!require.cache[file]) {
  const m = new Module(file)
  m.filename = file
  m.loaded = true
  m.exports = groupMessagesPerPartition
  require.cache[file] = m
}
