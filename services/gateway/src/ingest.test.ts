// Ingest's encode buffers: reused only once nothing can read them any more.
import { describe, expect, it } from 'vitest'
import type { Message } from '@sluice/kafka'
import { createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { EncodeBuffers, createIngest } from './ingest.js'
import type { IngestDefaults } from './ingest.js'
import { decoded, fakeProducer, jsonCodec } from './test-fakes.js'

const defaults: IngestDefaults = { tenant: 'ops', source: 'http', observedNs: 1_700_000_000_000_000_000n }
const records = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ message: `${tag} ${i}`, service: 'api' }))

function setup(size = 4096) {
  const producer = fakeProducer()
  const buffers = new EncodeBuffers(size, 2)
  const ingest = createIngest(loadConfig({}), { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }), encodeBuffers: buffers })
  return { producer, buffers, ingest }
}

describe('EncodeBuffers', () => {
  it('hands out buffers given back, keeps only its own size and at most `keep`', () => {
    const b = new EncodeBuffers(64, 2)
    const first = b.take()
    expect(first).toHaveLength(64)
    b.give([first, Buffer.alloc(128), b.take(), b.take()])
    expect(b.spare).toBe(2)
    expect([b.take(), b.take()]).toContain(first)
    expect(b.spare).toBe(0)
  })
})

describe('ingest encode buffers', () => {
  it('reuses the buffer of an acknowledged request for the next one', async () => {
    const { producer, buffers, ingest } = setup()
    await ingest.records(records(3, 'one'), defaults)
    expect(buffers.spare).toBe(1)
    const firstBuffer = (producer.sent[0]!.messages[0]!.value as Buffer).buffer
    await ingest.records(records(3, 'two'), defaults)
    const second = producer.sent[1]!.messages
    expect((second[0]!.value as Buffer).buffer).toBe(firstBuffer)
    expect(second.map((m: Message) => decoded(m).message)).toEqual(['two 0', 'two 1', 'two 2'])
  })

  it('does not reuse the buffer of a request Kafka failed: its bytes may still be on their way', async () => {
    const { producer, buffers, ingest } = setup()
    producer.fail = true
    await expect(ingest.records(records(3, 'lost'), defaults)).rejects.toThrow(/did not acknowledge/)
    expect(buffers.spare).toBe(0)
  })

  it('gives back the buffer of a request that sent nothing; of one that outgrew it, only buffers of the standard size', async () => {
    const { producer, buffers, ingest } = setup(1024)
    const r = await ingest.records([{ nope: true }], defaults)
    expect(r.accepted).toBe(0)
    expect(buffers.spare).toBe(1)
    // 100 records outgrow 1 KiB: the encoder moves on to larger buffers, which are not kept.
    const big = await ingest.records(records(100, 'big'), defaults)
    expect(big.accepted).toBe(100)
    const held = new Set(producer.sent[0]!.messages.map((m: Message) => (m.value as Buffer).buffer))
    expect(held.size).toBeGreaterThan(1)
    expect(buffers.spare).toBe(1)
    expect(producer.sent[0]!.messages.map((m: Message) => decoded(m).message)).toEqual(records(100, 'big').map((x) => x.message))
  })
})

describe('ingest bounds', () => {
  it('refuses a request whose records encode to more than the in-flight budget, storing none of it', async () => {
    const producer = fakeProducer()
    const buffers = new EncodeBuffers(4096, 2)
    const ingest = createIngest(loadConfig({ GATEWAY_MAX_IN_FLIGHT_BYTES: '200000', GATEWAY_MAX_BODY_BYTES: '50000' }), { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }), encodeBuffers: buffers })
    // A small body whose records share a large part, as an OTLP resource repeated in each.
    const shared = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(100)]))
    const many = Array.from({ length: 100 }, (_, i) => ({ message: `m ${i}`, resource: shared }))
    await expect(ingest.records(many, defaults)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE', message: expect.stringMatching(/more than 200000 bytes \(the larger of GATEWAY_MAX_IN_FLIGHT_BYTES and 4 × GATEWAY_MAX_BODY_BYTES\).*nothing was stored/) })
    expect(producer.sent).toEqual([])
    expect(buffers.spare).toBeGreaterThan(0)
    // Within the budget it goes.
    expect(await ingest.records(many.slice(0, 10), defaults)).toMatchObject({ accepted: 10, rejected: 0 })
  })

  it('gives a record refused for its size its bytes back: the next one is encoded where it began', async () => {
    // A producer that keeps the messages as given: views of the request's encode buffer.
    const kept: Message[] = []
    const producer = { ...fakeProducer(), send: async (_topic: string, messages: Message[]) => void kept.push(...messages) }
    const ingest = createIngest(loadConfig({ GATEWAY_MAX_RECORD_BYTES: '1000' }), { producer, codec: jsonCodec, registry: createRegistry({ defaultMetrics: false }), encodeBuffers: new EncodeBuffers(1 << 16, 2) })
    expect(await ingest.records([{ message: 'a' }, { message: 'x'.repeat(2000) }, { message: 'b' }, { message: 'c' }], defaults)).toMatchObject({ accepted: 3, rejected: 1 })
    const [a, b, c] = kept.map((m) => m.value as Buffer)
    expect(b!.buffer).toBe(a!.buffer)
    expect(b!.byteOffset).toBe(a!.byteOffset + a!.length)
    expect([a, b, c].map((v) => JSON.parse(v!.toString()).message)).toEqual(['a', 'b', 'c'])
  })
})

