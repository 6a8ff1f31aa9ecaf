// Two kafkajs internals replaced through Node's module cache before kafkajs first loads them.
// Imported for its side effect by client.ts, ahead of kafkajs itself.
// - groupMessagesPerPartition spreads an array per message, O(n²) in the batch size
//   (tulios/kafkajs#1576, merged upstream only in a fork, never released): at 6 000 records per
//   request it halves producer throughput. Here: the same function in linear time.
// - The record-batch CRC-32C is a byte-at-a-time JavaScript loop over every produced byte. Here:
//   @node-rs/crc32 (hardware CRC-32C, same result; the broker checks it on every batch).
import Module, { createRequire } from 'node:module'
import { crc32c } from '@node-rs/crc32'

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

function replace(request: string, exports: unknown): void {
  const file = require.resolve(request)
  if (require.cache[file]) return
  const m = new Module(file)
  m.filename = file
  m.loaded = true
  m.exports = exports
  require.cache[file] = m
}

replace('kafkajs/src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition)
replace('kafkajs/src/protocol/recordBatch/crc32C/index.js', (buffer: Buffer): number => crc32c(buffer))
