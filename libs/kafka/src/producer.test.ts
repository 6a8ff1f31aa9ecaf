// The memoised partitioner: kafkajs's default partitioner's answers, remembered. When the
// coalescing producer sends, over a fake kafkajs producer (the real broker: producer.int.test.ts).
import { Partitioners } from 'kafkajs'
import type { Kafka, Message, PartitionMetadata, ProducerBatch } from 'kafkajs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { BatchingProducer, cachedDefaultPartitioner } from './producer.js'

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

describe('BatchingProducer lingering', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** A producer over a kafkajs stand-in whose requests are acknowledged when `ack()` is called. */
  function producer(opts: ConstructorParameters<typeof BatchingProducer>[1]) {
    const requests: number[] = []
    const acks: Array<() => void> = []
    const fake = {
      connect: async () => {},
      disconnect: async () => {},
      sendBatch: (b: ProducerBatch) => {
        requests.push(b.topicMessages!.reduce((n, t) => n + t.messages.length, 0))
        return new Promise<void>((resolve) => acks.push(resolve))
      },
    }
    const p = new BatchingProducer({ producer: () => fake } as unknown as Kafka, opts)
    return { p, requests, ack: () => acks.shift()?.() }
  }
  const records = (n: number, bytes: number): Message[] => Array.from({ length: n }, () => ({ key: 'k', value: Buffer.alloc(bytes) }))

  it('holds small sends for lingerMs and sends them together', async () => {
    vi.useFakeTimers()
    const { p, requests } = producer({ lingerMs: 2 })
    void p.send('t', records(1, 100))
    void p.send('t', records(2, 100))
    expect(requests).toEqual([])
    await vi.advanceTimersByTimeAsync(2)
    expect(requests).toEqual([3])
  })

  it('sends at once when batchBytes are queued, and what comes meanwhile when the request returns', async () => {
    vi.useFakeTimers()
    const { p, requests, ack } = producer({ lingerMs: 50, batchBytes: 16 * 1024 })
    const big = p.send('t', records(100, 400))
    expect(requests).toEqual([100])
    const small = p.send('t', records(1, 100))
    const other = p.send('t', records(1, 100))
    ack()
    await big
    await vi.advanceTimersByTimeAsync(0)
    expect(requests).toEqual([100, 2])
    ack()
    await Promise.all([small, other])
    await vi.advanceTimersByTimeAsync(0)
    // A lone small send after that still waits for company.
    void p.send('t', records(1, 100))
    expect(requests).toEqual([100, 2])
    await vi.advanceTimersByTimeAsync(50)
    expect(requests).toEqual([100, 2, 1])
  })
})
