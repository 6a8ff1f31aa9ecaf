// The consumer runner against the real broker: offsets are committed only once every stage has its
// outputs durable (a failing sink is retried without committing or losing records), chunks in
// flight on an asynchronous transform still arrive once each and in order with bad records
// dead-lettered, a stateful stage's offsets follow its checkpoints and it resumes from them, and a
// live runner reads from the end without committing.
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { KafkaMessage } from 'kafkajs'
import { describe, expect, inject, it, onTestFinished } from 'vitest'
import { SluiceError } from '@sluice/core'
import { createLogger, createRegistry } from '@sluice/observability'
import { createKafka } from './client.js'
import { ensureTopics } from './admin.js'
import { BatchingProducer } from './producer.js'
import { DLQ_HEADER, DeadLetterQueue } from './dlq.js'
import type { DeadLetter } from './dlq.js'
import { ConsumerRunner } from './runner.js'
import type { RunnerOptions } from './runner.js'
import type { Batch, RecordDecoder, Stage, StageState, TopicPartitionOffset } from './stage.js'

const until = async (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** A fresh topic (and its DLQ) with `partitions` partitions, a client, a connected producer and offset readers. */
async function setup(name: string, partitions: number) {
  const id = randomBytes(4).toString('hex')
  const topic = `t${id}.${name}`
  const logger = createLogger({ level: 'silent' })
  const kafka = createKafka({ brokers: inject('infra').kafkaBrokers.split(','), clientId: `c${id}`, logger })
  await ensureTopics(kafka, [topic, `${topic}.dlq`].map((t) => ({ topic: t, numPartitions: partitions, replicationFactor: 1 })))
  const producer = new BatchingProducer(kafka)
  await producer.connect()
  onTestFinished(() => producer.close())
  const admin = kafka.admin()
  await admin.connect()
  onTestFinished(() => admin.disconnect())
  // Before the disconnect above (hooks run last registered first), after the runners stopped.
  onTestFinished(() => admin.deleteTopics({ topics: [topic, `${topic}.dlq`], timeout: 10_000 }).catch(() => undefined))
  /** Sum of the committed offsets of `group` on the topic. */
  const committed = async (group = `g${id}`) => {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    return offsets!.partitions.reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0)
  }
  /** A runner on the topic; every stage gets `decoders` unless given as { stage, decoders }. */
  type StageArg = Stage<never, unknown> | { stage: Stage<never, unknown>; decoders?: Record<string, RecordDecoder<unknown>> }
  const runner = (o: Omit<RunnerOptions, 'kafka' | 'logger' | 'registry' | 'groupId' | 'topics' | 'name' | 'stages'> & Partial<Pick<RunnerOptions, 'registry' | 'groupId' | 'name'>> & { stages: StageArg[]; decoders?: Record<string, RecordDecoder<unknown>> }) => {
    const { decoders, ...rest } = o
    const stages = o.stages.map((s) => ('stage' in s ? s : { stage: s, ...(decoders && { decoders }) })) as RunnerOptions['stages']
    const r = new ConsumerRunner({ kafka, logger, registry: createRegistry({ defaultMetrics: false }), groupId: `g${id}`, topics: [topic], retryInitialMs: 20, retryMaxMs: 100, ...rest, name: stages.map((s) => s.stage.name).join('+'), stages })
    onTestFinished(() => r.close())
    return r
  }
  return { id, topic, kafka, producer, committed, runner, dlq: new DeadLetterQueue(producer, `${topic}.dlq`) }
}

const numbers: RecordDecoder<number> = {
  decodeSync: (v) => {
    const s = v!.toString()
    if (s.startsWith('bad-')) throw new SluiceError('DECODE_FAILED', `not a number: ${s}`)
    return Number(s)
  },
  decode: async (v) => numbers.decodeSync(v)!,
}

/** A stateless stage keeping what its sink made durable. */
function collecting(name: string, o: { maxRecords?: number; sink?: (items: number[]) => Promise<void> } = {}): Stage<number, number> & { stored: number[] } {
  const stored: number[] = []
  return {
    name,
    stored,
    flush: { maxRecords: o.maxRecords ?? 1000, intervalMs: 100 },
    transform: (batch: Batch<number>) => ({ outputs: [...batch.values] }),
    sink: async (items) => {
      await o.sink?.(items)
      stored.push(...items)
    },
  }
}

describe('ConsumerRunner', () => {
  it('retries a failing sink with backoff, commits only after it succeeds, and loses nothing', async () => {
    const { topic, producer, committed, runner, dlq } = await setup('sink', 2)
    await producer.send(topic, Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 5}`, value: String(i) })))
    let attempts = 0
    let failing = true
    const stage = collecting('test', {
      sink: async () => {
        attempts++
        if (failing) throw new Error('ClickHouse is down')
      },
    })
    await runner({ stages: [stage], decoders: { [topic]: numbers }, dlq }).start()

    await until('three failed attempts', () => attempts >= 3)
    expect(await committed()).toBe(0)
    failing = false
    await until('records stored', () => stage.stored.length >= 100)
    await until('offsets committed', async () => (await committed()) === 100)
    expect([...stage.stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i))
  })

  it('transforms chunks in flight across batches: bad records to the DLQ, failed chunks, retryable records and a refused DLQ send retried, the rest once and in order', async () => {
    const { id, kafka, topic, producer, committed, runner } = await setup('chunks', 1)
    const total = 3000
    const undecodable = new Set([5, 999, 1000, 2500])
    const refused = new Set([42, 1777])
    const value = (i: number) => (undecodable.has(i) ? `bad-${i}` : String(i))
    // Two sends: the second lands while the first is being consumed, so there are several batches.
    await producer.send(topic, Array.from({ length: 1500 }, (_, i) => ({ key: 'k', value: value(i) })))

    let chunkFailures = 0
    let retryableFailures = 0
    let decoderRetries = 0
    // The DLQ refuses the first dead letters: that chunk is fetched again, nothing after it is committed first.
    let dlqFailures = 1
    const letters: DeadLetter[] = []
    const dlq = {
      send: async (l: readonly DeadLetter[]) => {
        if (dlqFailures-- > 0) throw new Error('the DLQ topic is unavailable')
        letters.push(...l)
        await new DeadLetterQueue(producer, `${topic}.dlq`).send(l)
      },
    }
    const decoder: RecordDecoder<number> = {
      decodeSync: (v) => {
        if (v!.toString() === '2222' && decoderRetries++ < 2) throw new SluiceError('REGISTRY_UNAVAILABLE', 'registry down', { canRetry: true })
        return numbers.decodeSync(v)
      },
      decode: async (v) => decoder.decodeSync(v)!,
    }
    const stored: number[] = []
    const registry = createRegistry({ defaultMetrics: false })
    const stage: Stage<number, number> = {
      name: 'chunks',
      flush: { maxRecords: 400, intervalMs: 100 },
      // As if on another thread: each chunk takes a while, and chunks overlap.
      async transform(batch) {
        await sleep(Math.floor(Math.random() * 5))
        if (batch.values.includes(1234) && chunkFailures++ < 2) throw new Error('the transform thread died')
        const outputs: number[] = []
        const failed = []
        for (const [index, v] of batch.values.entries()) {
          if (refused.has(v)) failed.push({ index, error: new SluiceError('VALIDATION_FAILED', `refusing ${v}`) })
          else if (v === 777 && retryableFailures++ < 2) failed.push({ index, error: new SluiceError('REGISTRY_UNAVAILABLE', 'registry down', { canRetry: true }) })
          else outputs.push(v)
        }
        return { outputs, failed }
      },
      async sink(items) {
        await sleep(5)
        stored.push(...items)
      },
    }
    await runner({ stages: [stage], decoders: { [topic]: decoder }, dlq, registry, chunkRecords: 100, chunksInFlight: 4 }).start()
    await until('the first records', () => stored.length > 0)
    await producer.send(topic, Array.from({ length: total - 1500 }, (_, i) => ({ key: 'k', value: value(1500 + i) })))

    const expected = Array.from({ length: total }, (_, i) => i).filter((i) => !undecodable.has(i) && !refused.has(i))
    await until('every good record', () => stored.length >= expected.length)
    await until('offsets committed', async () => (await committed()) === total)
    // In order, except the record retried on its own, which follows its chunk.
    expect(stored.filter((v) => v !== 777)).toEqual(expected.filter((v) => v !== 777))
    expect(stored.filter((v) => v === 777)).toEqual([777])
    expect(stored.indexOf(777)).toBeGreaterThan(stored.indexOf(799))
    expect(chunkFailures).toBeGreaterThanOrEqual(2)
    expect(retryableFailures).toBe(3)
    expect(decoderRetries).toBe(3)
    expect(dlqFailures).toBeLessThan(0)
    expect(letters.map((l) => [l.stage, l.code, Number(l.message.offset)]).sort((a, b) => Number(a[2]) - Number(b[2]))).toEqual(
      [...undecodable, ...refused].sort((a, b) => a - b).map((i) => [undecodable.has(i) ? 'chunks' : 'chunks', undecodable.has(i) ? 'DECODE_FAILED' : 'VALIDATION_FAILED', i]),
    )
    const metrics = await registry.metrics()
    expect(metrics).toContain(`sluice_chunks_events_dropped_total{reason="dlq"} ${undecodable.size + refused.size}`)
    expect(metrics).toContain(`sluice_chunks_events_received_total ${total}`)

    // The DLQ records carry the reason and where they came from.
    const reader = kafka.consumer({ groupId: `dlq-${id}` })
    await reader.connect()
    onTestFinished(() => reader.disconnect())
    await reader.subscribe({ topic: `${topic}.dlq`, fromBeginning: true })
    const dead: KafkaMessage[] = []
    await reader.run({ eachMessage: async ({ message }) => void dead.push(message) })
    await until('the dead letters', () => dead.length >= undecodable.size + refused.size)
    const refusedLetter = dead.find((m) => m.value?.toString() === '42')!
    expect(refusedLetter.headers?.[DLQ_HEADER.reason]?.toString()).toBe('refusing 42')
    expect(refusedLetter.headers?.[DLQ_HEADER.offset]?.toString()).toBe('42')
    expect(refusedLetter.headers?.[DLQ_HEADER.stage]?.toString()).toBe('chunks')
  })

  it('shares one consumer between stages, commits what all of them have durable, and resumes a stateful stage from its checkpoint', async () => {
    const { topic, producer, committed, runner, dlq } = await setup('shared', 2)
    await producer.send(topic, Array.from({ length: 200 }, (_, i) => ({ key: `k${i % 4}`, value: String(i) })))

    // A stateful stage summing what it saw per partition; its checkpoints go to `saved`.
    const saved = new Map<number, { sum: number; next: string }>()
    let allowCheckpoints = false
    const summing = () => {
      const sums = new Map<number, { sum: number; next: string }>()
      const state: StageState = {
        checkpointIntervalMs: 100,
        open: async (_t, partition) => {
          const s = saved.get(partition)
          sums.set(partition, { sum: s?.sum ?? 0, next: s?.next ?? '0' })
          return s?.next
        },
        close: (_t, partition) => void sums.delete(partition),
        capture: async () => {
          if (!allowCheckpoints) return undefined
          const taken = [...sums].map(([p, s]) => [p, { ...s }] as const)
          return async (): Promise<TopicPartitionOffset[]> => {
            for (const [p, s] of taken) saved.set(p, s)
            return taken.map(([p, s]) => ({ topic, partition: p, offset: s.next }))
          }
        },
      }
      const stage: Stage<number, never> & { sums: typeof sums } = {
        name: 'summing',
        sums,
        flush: { maxRecords: 1000, intervalMs: 50 },
        state,
        transform(batch) {
          const s = sums.get(batch.partition)!
          for (const [i, v] of batch.values.entries()) {
            s.sum += v
            s.next = String(Number(batch.records[i]!.offset) + 1)
          }
          return { outputs: [] }
        },
        sink: async () => undefined,
      }
      return stage
    }

    const first = summing()
    const sink = collecting('collecting')
    const r1 = runner({ stages: [sink, first], decoders: { [topic]: numbers }, dlq })
    await r1.start()
    await until('the sink has everything', () => sink.stored.length === 200)
    await sleep(500)
    // The sink has it all durable, but no checkpoint yet: nothing is committed.
    expect(await committed()).toBe(0)
    allowCheckpoints = true
    await until('offsets committed after the checkpoint', async () => (await committed()) === 200)
    await r1.close()
    expect([...saved.values()].reduce((n, s) => n + s.sum, 0)).toBe((199 * 200) / 2)

    // More records, then a new member: the state is restored and only the new records are added.
    await producer.send(topic, Array.from({ length: 100 }, (_, i) => ({ key: `k${i % 4}`, value: String(200 + i) })))
    const second = summing()
    const sink2 = collecting('collecting')
    const r2 = runner({ stages: [sink2, second], decoders: { [topic]: numbers }, dlq })
    await r2.start()
    await until('the new records', () => sink2.stored.length === 100)
    await until('committed', async () => (await committed()) === 300)
    expect([...second.sums.values()].reduce((n, s) => n + s.sum, 0)).toBe((299 * 300) / 2)
  })

  it('keeps checkpointing a stateful stage while chunks start and complete around it, and never stalls', async () => {
    // A checkpoint waits for the chunks started before it; chunks started after it wait for the
    // checkpoint. Frequent checkpoints between many small, slow chunks once made them wait for
    // each other for ever (the alerter then stopped consuming under load).
    const { topic, producer, committed, runner, dlq } = await setup('busy', 1)
    let seen = 0
    let checkpoints = 0
    let next = '0'
    const stage: Stage<number, never> = {
      name: 'busy',
      flush: { maxRecords: 1000, intervalMs: 20 },
      state: {
        checkpointIntervalMs: 1,
        open: async () => undefined,
        close: () => undefined,
        capture: async () => {
          const offset = next
          return async (): Promise<TopicPartitionOffset[]> => {
            checkpoints++
            return [{ topic, partition: 0, offset }]
          }
        },
      },
      transform(batch) {
        seen += batch.values.length
        next = String(Number(batch.records.at(-1)!.offset) + 1)
        return { outputs: [] }
      },
      sink: async () => undefined,
    }
    // Slow to decode, so that chunks queue up behind one another while checkpoints are taken.
    const slow: RecordDecoder<number> = { decodeSync: () => undefined, decode: async (v) => (await sleep(3), Number(v!.toString())) }
    const r = runner({ stages: [stage], decoders: { [topic]: slow }, dlq, chunkRecords: 1, chunksInFlight: 16 })
    await r.start()
    for (let round = 0; round < 5; round++) {
      await producer.send(topic, Array.from({ length: 60 }, (_, i) => ({ key: 'k', value: String(round * 60 + i) })))
      await sleep(30)
    }
    await until('every record transformed', () => seen === 300)
    await until('every offset committed', async () => (await committed()) === 300)
    expect(checkpoints).toBeGreaterThan(1)
  })

  it('decodes each record once per distinct decoder for the stages sharing a consumer, dead-lettering per stage', async () => {
    const { topic, producer, runner, dlq } = await setup('decoders', 1)
    await producer.send(topic, ['1', '2', 'bad-3', '4'].map((value) => ({ key: 'k', value })))
    let calls = 0
    const counting: RecordDecoder<number> = { decodeSync: (v) => (calls++, numbers.decodeSync(v)), decode: async (v) => numbers.decodeSync(v)! }
    // Reads only the length: never fails.
    const lengths: RecordDecoder<number> = { decodeSync: (v) => v!.length, decode: async (v) => v!.length }
    const a = collecting('a')
    const b = collecting('b')
    const c = collecting('c')
    const letters: DeadLetter[] = []
    const r = runner({ stages: [{ stage: a, decoders: { [topic]: counting } }, { stage: b, decoders: { [topic]: counting } }, { stage: c, decoders: { [topic]: lengths } }], dlq: {
        send: async (l) => {
          letters.push(...l)
          await dlq.send(l)
        },
      },
    })
    await r.start()
    await until('every stage has its records', () => a.stored.length === 3 && b.stored.length === 3 && c.stored.length === 4)
    expect(calls).toBe(4)
    expect(a.stored).toEqual([1, 2, 4])
    expect(c.stored).toEqual([1, 1, 5, 1])
    expect(letters.map((l) => [l.stage, l.code, l.message.offset]).sort()).toEqual([
      ['a', 'DECODE_FAILED', '2'],
      ['b', 'DECODE_FAILED', '2'],
    ])
  })

  it('flushes at its interval after a slow write, not back to back with whatever arrived during it', async () => {
    const { topic, producer, runner, dlq } = await setup('cadence', 1)
    const intervalMs = 300
    // Each output is the time its record was buffered; a write records the age of its oldest.
    const ages: number[] = []
    let writes = 0
    const stage: Stage<number, number> = {
      name: 'cadence',
      flush: { maxRecords: 1_000_000, intervalMs },
      transform: (batch: Batch<number>) => ({ outputs: batch.values.map(() => Date.now()) }),
      sink: async (times) => {
        ages.push(Date.now() - Math.min(...times))
        // The first write takes as long as three intervals (a ClickHouse insert beside a merge),
        // the rest are quick.
        await sleep(writes++ === 0 ? 3 * intervalMs : 10)
      },
    }
    await runner({ stages: [stage], decoders: { [topic]: numbers }, dlq }).start()
    let sending = true
    const sent = (async () => {
      for (let i = 0; sending; i++) {
        await producer.send(topic, [{ key: 'k', value: String(i) }])
        await sleep(10)
      }
    })()
    await until('eight writes', () => ages.length >= 8)
    sending = false
    await sent
    // While the first write ran, the timer asked for a flush every tick. One waited and took
    // everything; every later write waited for its own oldest record to be an interval old (less
    // the timer's tick, a quarter of it), none took only what arrived during the one before.
    expect(Math.min(...ages.slice(1, 8))).toBeGreaterThanOrEqual(intervalMs - intervalMs / 4 - 10)
  })

  it('flushes a fetch that caught its partitions up once, when all of it is buffered, not partition by partition', async () => {
    const { topic, producer, runner, dlq } = await setup('caughtup', 3)
    const writes: number[][] = []
    const stage: Stage<number, number> = {
      name: 'caughtup',
      // Only the caught-up rule can flush here: no interval or size is reached.
      flush: { maxRecords: 1_000_000, intervalMs: 60_000, whenCaughtUp: true },
      // Partition 0's chunk is ready first, the others later (another thread, a longer chunk).
      transform: async (batch: Batch<number>) => {
        await sleep(batch.partition === 0 ? 50 : 300)
        return { outputs: [...batch.values] }
      },
      sink: async (items) => {
        writes.push([...items])
      },
    }
    // One request to every partition before the runner starts: its first fetch holds them all.
    const sent = Array.from({ length: 30 }, (_, i) => i)
    await producer.send(topic, sent.map((i) => ({ key: `k${i}`, value: String(i) })))
    await runner({ stages: [stage], decoders: { [topic]: numbers }, dlq }).start()
    await until('every record written', () => writes.flat().length >= sent.length)
    await sleep(500)
    // Before: partition 0's records went out alone as soon as they were buffered, the rest after.
    expect(writes).toHaveLength(1)
    expect(writes[0]!.sort((a, b) => a - b)).toEqual(sent)
  })

  it('reads a live topic from its end and never commits', async () => {
    const { id, topic, producer, committed, runner } = await setup('live', 1)
    await producer.send(topic, [{ key: 'k', value: '1' }])
    const stage = collecting('live')
    await runner({ stages: [stage], decoders: { [topic]: numbers }, live: true, groupId: `live-${id}` }).start()
    await sleep(1500)
    await producer.send(topic, [{ key: 'k', value: '2' }, { key: 'k', value: 'bad-3' }, { key: 'k', value: '4' }])
    await until('the new records', () => stage.stored.length >= 2)
    expect(stage.stored).toEqual([2, 4])
    await sleep(300)
    expect(await committed(`live-${id}`)).toBe(0)
  })

  it('stops fetching while its stage is idle, and on waking carries on from the latest offsets', async () => {
    const { id, topic, producer, runner } = await setup('idle', 2)
    let watching = false
    const stage = { ...collecting('idle'), idle: () => !watching }
    await runner({ stages: [stage], decoders: { [topic]: numbers }, live: true, groupId: `idle-${id}` }).start()
    await sleep(1500)
    await producer.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(i) })))
    await sleep(1000)
    expect(stage.stored).toEqual([])
    watching = true
    await sleep(1000)
    await producer.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(100 + i) })))
    await until('the records sent after waking', () => stage.stored.length >= 10)
    await sleep(300)
    expect([...stage.stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i))
  })

  // The end of the topic as Kafka reported it once asked (after the next tick, an admin connection
  // and a request) was past records sent right after someone started watching: they were lost.
  it('on waking reads what was sent the moment someone started watching', async () => {
    const { id, topic, producer, runner } = await setup('wake-race', 2)
    let watching = false
    const stage = { ...collecting('wake-race'), idle: () => !watching }
    await runner({ stages: [stage], decoders: { [topic]: numbers }, live: true, groupId: `wake-race-${id}` }).start()
    await sleep(1500)
    await producer.send(topic, [{ key: 'old', value: '1' }])
    await sleep(1000)
    watching = true
    await producer.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(100 + i) })))
    await until('the records sent as it woke', () => stage.stored.length >= 10)
    await sleep(300)
    expect([...stage.stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i))
  })

  it('watched from its start, reads what was sent before it joined its group', async () => {
    const { id, topic, producer, runner } = await setup('join-race', 2)
    await producer.send(topic, [{ key: 'old', value: '1' }])
    await sleep(200)
    const stage = collecting('join-race')
    await runner({ stages: [stage], decoders: { [topic]: numbers }, live: true, groupId: `join-race-${id}` }).start()
    // start() returns before the group is joined (the join takes a rebalance).
    await producer.send(topic, Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: String(100 + i) })))
    await until('the records sent before the join', () => stage.stored.length >= 10)
    await sleep(300)
    expect([...stage.stored].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => 100 + i))
  })
})
