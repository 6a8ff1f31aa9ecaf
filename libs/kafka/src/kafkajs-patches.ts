// Three kafkajs internals replaced through Node's module cache before kafkajs first loads them.
// Imported for its side effect by client.ts, ahead of kafkajs itself.
// - groupMessagesPerPartition spreads an array per message, O(n²) in the batch size
//   (tulios/kafkajs#1576, merged upstream only in a fork, never released): at 6 000 records per
//   request it halves producer throughput. Here: the same function in linear time.
// - The record-batch CRC-32C is a byte-at-a-time JavaScript loop over every produced byte. Here:
//   @node-rs/crc32 (hardware CRC-32C, same result; the broker checks it on every batch).
// - Each record's encoder starts at 512 bytes and grows by reallocating and copying, though the
//   record's size is computed first: a record over ~500 bytes (every enriched log) cost a second
//   buffer and a copy. Here: the same record, in one buffer of its size.
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

interface KafkajsEncoder {
  writeVarInt(n: number): KafkajsEncoder
  writeInt8(n: number): KafkajsEncoder
  writeVarLong(n: number): KafkajsEncoder
  writeVarIntBytes(b: unknown): KafkajsEncoder
  writeVarIntArray(a: unknown[]): KafkajsEncoder
}
interface EncoderClass {
  new (initialSize?: number): KafkajsEncoder
  sizeOfVarInt(n: number): number
  sizeOfVarLong(n: number): number
  sizeOfVarIntBytes(b: unknown): number
}
type HeaderValue = string | Buffer | null
interface RecordArgs {
  offsetDelta?: number
  timestampDelta?: number
  key?: unknown
  value?: unknown
  headers?: Record<string, HeaderValue | HeaderValue[]>
}

const Encoder = require('kafkajs/src/protocol/encoder.js') as EncoderClass
const Header = require('kafkajs/src/protocol/recordBatch/header/v0/index.js') as (h: { key: string; value: HeaderValue }) => KafkajsEncoder

// kafkajs/src/protocol/recordBatch/record/v0/index.js, but allocated at its size.
function record({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordArgs): KafkajsEncoder {
  const headersArray = Object.keys(headers).flatMap((headerKey) => {
    const v = headers[headerKey]!
    return Array.isArray(v) ? v.map((headerValue) => ({ key: headerKey, value: headerValue })) : [{ key: headerKey, value: v }]
  })
  let sizeOfHeaders = Encoder.sizeOfVarInt(headersArray.length)
  for (const h of headersArray) {
    const keySize = Buffer.byteLength(h.key)
    const valueSize = h.value === null ? -1 : Buffer.byteLength(h.value)
    sizeOfHeaders += Encoder.sizeOfVarInt(keySize) + keySize + Encoder.sizeOfVarInt(valueSize) + Math.max(0, valueSize)
  }
  const sizeOfBody = 1 + Encoder.sizeOfVarLong(timestampDelta) + Encoder.sizeOfVarInt(offsetDelta) + Encoder.sizeOfVarIntBytes(key) + Encoder.sizeOfVarIntBytes(value) + sizeOfHeaders
  return new Encoder(Encoder.sizeOfVarInt(sizeOfBody) + sizeOfBody)
    .writeVarInt(sizeOfBody)
    .writeInt8(0) // no record attributes
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(headersArray.map(Header))
}

replace('kafkajs/src/producer/groupMessagesPerPartition.js', groupMessagesPerPartition)
replace('kafkajs/src/protocol/recordBatch/record/v0/index.js', record)
replace('kafkajs/src/protocol/recordBatch/crc32C/index.js', (buffer: Buffer): number => crc32c(buffer))
