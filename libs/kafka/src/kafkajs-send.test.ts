// The acked-messages patch (deploy/patches/kafkajs+2.2.4.patch, src/producer/sendMessages.js):
// kafkajs's own send path, on a fake cluster where a partition's leader dies mid-send and its
// leadership moves to a broker that has already acknowledged its own partitions — beside
// upstream kafkajs 2.2.4 (the kafkajs-upstream alias), which resolves without ever sending that
// partition's messages (tulios/kafkajs#1303).
import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'

const require = createRequire(import.meta.url)

interface Message {
  partition: number
  value: string
}
interface TopicData {
  topic: string
  partitions: Array<{ partition: number; messages: Message[] }>
}
type SendMessages = (deps: Record<string, unknown>) => (args: { acks: number; timeout: number; topicMessages: Array<{ topic: string; messages: Message[] }> }) => Promise<Array<{ topicName: string; partition: number }>>

/** Partitions 0, 1, 2 led by brokers 1, 2, 3; broker 3 drops its first connection, and partition 2 moves to broker 1. */
function scenario(sendMessages: SendMessages) {
  const leaders: Record<number, number> = { 0: 1, 1: 2, 2: 3 }
  const written: Record<number, string[]> = { 0: [], 1: [], 2: [] }
  let broker3Calls = 0
  const broker = (nodeId: number) => ({
    nodeId,
    async produce({ topicData }: { topicData: TopicData[] }) {
      if (nodeId === 3 && broker3Calls++ === 0) throw Object.assign(new Error('Closed connection'), { name: 'KafkaJSConnectionClosedError', host: 'b3', port: 3 })
      for (const t of topicData) for (const p of t.partitions) written[p.partition]!.push(...p.messages.map((m) => m.value))
      return { topics: topicData.map((t) => ({ topicName: t.topic, partitions: t.partitions.map((p) => ({ partition: p.partition, errorCode: 0, baseOffset: '0' })) })) }
    },
  })
  const brokers = new Map([1, 2, 3].map((id) => [id, broker(id)]))
  const cluster = {
    targetTopics: new Set<string>(),
    refreshMetadataIfNecessary: async () => undefined,
    // The controller has moved partition 2 to broker 1.
    refreshMetadata: async () => void (leaders[2] = 1),
    addMultipleTargetTopics: async () => undefined,
    isConnected: () => true,
    removeBroker: () => undefined,
    findTopicPartitionMetadata: () => [0, 1, 2].map((partitionId) => ({ partitionId, leader: leaders[partitionId] })),
    findLeaderForPartitions: (_topic: string, partitions: Array<string | number>) => {
      const byLeader: Record<number, number[]> = {}
      for (const p of partitions.map(Number)) (byLeader[leaders[p]!] ??= []).push(p)
      return byLeader
    },
    findBroker: async ({ nodeId }: { nodeId: string | number }) => brokers.get(Number(nodeId))!,
  }
  const eosManager = {
    isTransactional: () => false,
    acquireBrokerLock: async () => undefined,
    releaseBrokerLock: async () => undefined,
    getSequence: () => 0,
    updateSequence: () => undefined,
    getProducerId: () => -1,
    getProducerEpoch: () => 0,
  }
  const retrier = async (fn: (bail: (e: Error) => never, retryCount: number, retryTime: number) => Promise<unknown>) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn((e) => { throw e }, attempt, 0)
      } catch (err) {
        if (attempt >= 5) throw err
      }
    }
  }
  const logger = { debug: () => undefined, error: () => undefined, warn: () => undefined, info: () => undefined }
  const send = sendMessages({ logger, cluster, eosManager, retrier, partitioner: ({ message }: { message: Message }) => message.partition })
  const messages = [0, 1, 2].flatMap((partition) => [0, 1].map((i) => ({ partition, value: `p${partition}-m${i}` })))
  return { written, run: () => send({ acks: -1, timeout: 1000, topicMessages: [{ topic: 'logs.raw', messages }] }) }
}

describe('sendMessages when a leader dies mid-send (acked-messages)', () => {
  it('sends the dead leader’s messages to the broker that took over, even one that had answered already', async () => {
    const { written, run } = scenario(require('kafkajs/src/producer/sendMessages.js') as SendMessages)
    const responses = await run()
    expect(written).toEqual({ 0: ['p0-m0', 'p0-m1'], 1: ['p1-m0', 'p1-m1'], 2: ['p2-m0', 'p2-m1'] })
    expect(responses.map((r) => r.partition).sort()).toEqual([0, 1, 2])
  })

  it('(upstream kafkajs 2.2.4 resolves without sending them: the loss the patch fixes)', async () => {
    const { written, run } = scenario(require('kafkajs-upstream/src/producer/sendMessages.js') as SendMessages)
    const responses = await run()
    expect(written[2]).toEqual([])
    expect(responses.map((r) => r.partition).sort()).toEqual([0, 1])
  })
})
