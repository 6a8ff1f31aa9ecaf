// The memoised partitioner: kafkajs's default partitioner's answers, remembered.
import { Partitioners } from 'kafkajs'
import type { Message, PartitionMetadata } from 'kafkajs'
import { describe, expect, it } from 'vitest'
import { cachedDefaultPartitioner } from './producer.js'

const metadata = (n: number): PartitionMetadata[] => Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }))

describe('cachedDefaultPartitioner', () => {
  it("answers as kafkajs's default partitioner for string and Buffer keys, asked again and again", () => {
    const cached = cachedDefaultPartitioner()
    const reference = Partitioners.DefaultPartitioner()
    const keys: Array<string | Buffer> = []
    for (let i = 0; i < 300; i++) keys.push(`tenant-${i % 7}/svc-${i}`, Buffer.from(`tenant-${i % 7}/svc-${i}`))
    // Same characters, different bytes: "é" as a string is UTF-8 C3 A9, this Buffer is E9.
    keys.push('é', Buffer.from([0xe9]), Buffer.from([0xed]), Buffer.from([0xc3, 0xa9]), Buffer.from([0xff, 0xfe, 0x00]))
    for (const partitions of [3, 12, 3]) {
      for (let round = 0; round < 2; round++) {
        for (const key of keys) {
          const args = { topic: 'logs.raw', partitionMetadata: metadata(partitions), message: { key, value: 'v' } as Message }
          expect(cached(args)).toBe(reference(args))
        }
      }
    }
  })

  it('keeps topics apart, and leaves keyless and explicitly placed messages to kafkajs', () => {
    const cached = cachedDefaultPartitioner()
    const a = { topic: 'a', partitionMetadata: metadata(1), message: { key: 'k', value: 'v' } as Message }
    const b = { topic: 'b', partitionMetadata: metadata(64), message: { key: 'k', value: 'v' } as Message }
    expect(cached(a)).toBe(0)
    expect(cached(b)).toBe(Partitioners.DefaultPartitioner()(b))
    expect(cached({ ...b, message: { key: 'k', value: 'v', partition: 5 } })).toBe(5)
    const keyless = { topic: 'b', partitionMetadata: metadata(64), message: { value: 'v' } as Message }
    expect(cached(keyless)).toBeGreaterThanOrEqual(0)
  })
})
