// The kafkajs patches (deploy/patches/kafkajs+2.2.4.patch), each against kafkajs's own code: the
// modules kafkajs itself requires, compared with upstream's definitions (kept in kafkajs where
// the patch leaves them, rewritten here from upstream where it replaces them) and read back by
// kafkajs's decoders. And the start-up check that those modules are the ones loaded.
import { createRequire } from 'node:module'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { KAFKAJS_PATCHES, assertKafkajsCompat, kafkajsCompatProblems } from './kafkajs-compat.js'

const require = createRequire(import.meta.url)
const kafkajs = (file: string): unknown => require(`kafkajs/${file}`)

// kafkajs internals, typed as far as these tests use them.
type HeaderValue = string | Buffer | null
interface Message {
  key?: string | Buffer | null
  value: string | Buffer | null
  headers?: Record<string, HeaderValue | HeaderValue[]>
  timestamp?: string | number
}
interface Encoder {
  buf: Buffer
  buffer: Buffer
  size(): number
  writeInt16(n: number): Encoder
  writeInt32(n: number): Encoder
  writeString(s: string | null): Encoder
  writeArray(a: Encoder[]): Encoder
  writeEncoder(e: Encoder): Encoder
}
interface Long {
  toString(): string
}
interface BatchArgs {
  firstTimestamp: string | number
  maxTimestamp: string | number
  producerId: Long
  producerEpoch: number
  firstSequence?: number
  transactional: boolean
}
interface DecodedRecord {
  key: Buffer | null
  value: Buffer | null
  headers: Record<string, Buffer | null | (Buffer | null)[]>
  offset: string
  timestamp: string
}
interface DecodedBatch extends Record<string, unknown> {
  records: DecodedRecord[]
}
interface ProduceArgs {
  acks: number
  timeout: number
  transactionalId?: string | null
  producerId: Long
  producerEpoch: number
  compression: number
  topicData: { topic: string; partitions: { partition: number; firstSequence?: number; messages: Message[] }[] }[]
}
type Request = { apiKey: number; apiVersion: number; encode(): Promise<Encoder> }

const EncoderClass = kafkajs('src/protocol/encoder.js') as new (size?: number) => Encoder
const Decoder = kafkajs('src/protocol/decoder.js') as new (b: Buffer) => { readVarInt(): number; offset: number }
const Long = kafkajs('src/utils/long.js') as { fromInt(n: number): Long }
const { Types: Compression } = kafkajs('src/protocol/message/compression/index.js') as { Types: { None: number; GZIP: number } }
const groupMessagesPerPartition = kafkajs('src/producer/groupMessagesPerPartition.js') as <M>(args: GroupArgs<M>) => Record<string, M[]>
const crc32C = kafkajs('src/protocol/recordBatch/crc32C/index.js') as (b: Buffer) => number
const jsCrc32C = kafkajs('src/protocol/recordBatch/crc32C/crc32C.js') as (b: Buffer) => number
const RecordEncoder = kafkajs('src/protocol/recordBatch/record/v0/index.js') as (args: Record<string, unknown>) => Encoder
const RecordDecoder = kafkajs('src/protocol/recordBatch/record/v0/decoder.js') as (d: unknown, ctx: Record<string, unknown>) => DecodedRecord
const { RecordBatch } = kafkajs('src/protocol/recordBatch/v0/index.js') as { RecordBatch(args: BatchArgs & { compression: number; records: Encoder[]; lastOffsetDelta: number }): Promise<Encoder> }
const RecordBatchDecoder = kafkajs('src/protocol/recordBatch/v0/decoder.js') as (d: unknown) => Promise<DecodedBatch>
const { encodeUncompressedRecordBatch } = kafkajs('src/protocol/recordBatch/v0/uncompressed.js') as {
  encodeUncompressedRecordBatch(args: BatchArgs & { messages: readonly Message[]; dateNow: number }, headroom?: number): Buffer | null
}
const produceRequest = kafkajs('src/protocol/requests/produce/v3/request.js') as (args: ProduceArgs) => Request
const createRequest = kafkajs('src/protocol/request.js') as (args: { correlationId: number; clientId: string | null; request: Request }) => Promise<Encoder>

afterEach(() => {
  vi.restoreAllMocks()
})

/** Reproducible pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

describe('the start-up check', () => {
  it('passes: kafkajs is 2.2.4 and every patch is the module loaded', () => {
    expect(kafkajsCompatProblems()).toEqual([])
    expect(() => assertKafkajsCompat()).not.toThrow()
  })

  it('names a missing patch and says what to run', async () => {
    const { file, exportName } = KAFKAJS_PATCHES[0]!
    const patched = kafkajs(file) as { sluicePatch?: string }
    expect(exportName).toBeUndefined()
    const marker = patched.sluicePatch
    delete patched.sluicePatch
    try {
      expect(kafkajsCompatProblems()).toEqual([`${file}: patch ${marker} is not loaded (unpatched)`])
      vi.resetModules()
      const fresh = await import('./kafkajs-compat.js')
      expect(() => fresh.assertKafkajsCompat()).toThrow(/groupMessagesPerPartition[\s\S]*npm ci[\s\S]*npx patch-package --patch-dir deploy\/patches/)
    } finally {
      patched.sluicePatch = marker
    }
    expect(kafkajsCompatProblems()).toEqual([])
  })
})

interface GroupArgs<M> {
  topic: string
  partitionMetadata: readonly unknown[]
  messages: readonly M[]
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number
}

// Upstream's definition (kafkajs 2.2.4 src/producer/groupMessagesPerPartition.js): quadratic.
function groupByDefinition<M>({ topic, partitionMetadata, messages, partitioner }: GroupArgs<M>): Record<string, M[]> {
  if (partitionMetadata.length === 0) return {}
  return messages.reduce<Record<string, M[]>>((result, message) => {
    const partition = partitioner({ topic, partitionMetadata, message })
    const current = result[partition] || []
    return Object.assign(result, { [partition]: [...current, message] })
  }, {})
}

describe('groupMessagesPerPartition (linear-grouping)', () => {
  it('groups as upstream does: the same partitions, each with its messages in order', () => {
    const rnd = random(7)
    for (const [count, partitions] of [[0, 3], [1, 1], [10, 3], [1000, 12], [6000, 64]] as const) {
      const messages = Array.from({ length: count }, (_, i) => ({ key: `k${Math.floor(rnd() * 50)}`, value: String(i) }))
      const args: GroupArgs<(typeof messages)[number]> = {
        topic: 't',
        partitionMetadata: Array.from({ length: partitions }, (_, i) => ({ partitionId: i })),
        messages,
        partitioner: ({ message }) => Number(message.key.slice(1)) % partitions,
      }
      expect(groupMessagesPerPartition(args)).toEqual(groupByDefinition(args))
    }
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [{}], partitioner: () => 0 })).toEqual({})
  })
})

describe('record-batch CRC-32C (native-crc32c)', () => {
  it('equals the standard check values and kafkajs own JavaScript CRC-32C', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283)
    expect(crc32C(Buffer.alloc(0))).toBe(0)
    expect(crc32C(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43)
    const rnd = random(11)
    for (const length of [1, 3, 7, 8, 15, 16, 63, 64, 1000, 4097, 100_000]) {
      const bytes = Buffer.from(Array.from({ length }, () => Math.floor(rnd() * 256)))
      expect(crc32C(bytes), `length ${length}`).toBe(jsCrc32C(bytes))
    }
  })
})

describe('record encoder (sized-record)', () => {
  function roundTrip(args: Record<string, unknown>): DecodedRecord {
    const bytes = RecordEncoder(args).buffer
    const decoder = new Decoder(bytes)
    const length = decoder.readVarInt()
    expect(decoder.offset + length).toBe(bytes.length)
    return RecordDecoder(decoder, { firstOffset: '100', firstTimestamp: '1700000000000', magicByte: 2 })
  }

  it('writes records kafkajs reads back: keys, values, deltas, headers, nulls', () => {
    const value = Buffer.alloc(900, 7)
    const r = roundTrip({ offsetDelta: 5, timestampDelta: 1234, key: 'acme/checkout', value, headers: { trace: 'abc', multi: ['x', 'y'], gone: null } })
    expect(r).toMatchObject({ offset: '105', timestamp: '1700000001234', key: Buffer.from('acme/checkout'), value })
    expect(r.headers).toEqual({ trace: Buffer.from('abc'), multi: [Buffer.from('x'), Buffer.from('y')], gone: null })
    expect(roundTrip({ key: null, value: null })).toMatchObject({ offset: '100', key: null, value: null })
  })

  it('allocates one buffer for a record over 512 bytes', () => {
    const value = Buffer.alloc(2000, 1)
    const alloc = vi.spyOn(Buffer, 'alloc')
    const e = RecordEncoder({ key: Buffer.from('k'), value })
    expect(alloc).toHaveBeenCalledTimes(1)
    expect(e.buffer.length).toBeLessThanOrEqual(e.buf.length)
  })
})

// Record mixes for the batch encoder: whatever a producer may send as key, value and headers.
const DATE_NOW = 1_700_000_000_000
const rnd = random(42)
const MIXES: Record<string, Message[]> = {
  'one record': [{ key: 'acme/checkout', value: Buffer.from('{"msg":"ok"}') }],
  'null and empty keys and values': [
    { key: null, value: null },
    { value: Buffer.alloc(0) },
    { key: '', value: '' },
    { key: Buffer.alloc(0), value: 'v' },
  ],
  headers: [
    { key: 'k', value: 'v', headers: { trace: 'abc', bin: Buffer.from([0, 1, 255]), many: ['1', Buffer.from('2'), '3'] } },
    { key: 'k', value: 'v', headers: { one: ['only'], none: [], gone: null, 'ünï/ключ': 'ß☃', empty: '' } },
    { key: 'k', value: 'v', headers: {} },
  ],
  timestamps: [
    { key: 'a', value: 'x', timestamp: '1700000000500' },
    { key: 'b', value: 'y' },
    { key: 'c', value: 'z', timestamp: 1_699_999_999_000 },
    { key: 'd', value: 'w', timestamp: '1700000000000' },
  ],
  // Sorted as strings (upstream's `.sort()`), the first timestamp is 1700000000000 and the
  // largest 999999999999: deltas of -700 000 000 001 and +100 000 000 000 ms, outside int32.
  'timestamps years apart': [
    { key: 'a', value: 'x', timestamp: '1700000000000' },
    { key: 'b', value: 'y', timestamp: 999_999_999_999 },
    { key: 'c', value: 'z', timestamp: '1800000000000' },
    { key: 'd', value: 'w' },
  ],
  'large values': [
    { key: 'big', value: Buffer.alloc(100_000, 3) },
    { key: 'bigger', value: Buffer.alloc(1_500_000, 4) },
    { key: 'text', value: 'ü'.repeat(70_000) },
  ],
  'many records': Array.from({ length: 5000 }, (_, i) => ({
    key: i % 7 === 0 ? null : i % 2 ? `tenant-${i % 13}/svc-${i % 50}` : Buffer.from(`k${i}`),
    value: i % 11 === 0 ? `vålue ${i}` : Buffer.alloc(Math.floor(rnd() * 800), i),
    ...(i % 97 === 0 && { headers: { h: String(i), r: ['a', 'b'] } }),
  })),
  'no records': [],
}

const BATCHES: Record<string, Omit<BatchArgs, 'firstTimestamp' | 'maxTimestamp'>> = {
  plain: { producerId: Long.fromInt(-1), producerEpoch: 0, transactional: false },
  idempotent: { producerId: Long.fromInt(4711), producerEpoch: 3, firstSequence: 123_456, transactional: false },
  transactional: { producerId: Long.fromInt(99), producerEpoch: 1, firstSequence: 7, transactional: true },
}

// Upstream's produce request (kafkajs 2.2.4 src/protocol/requests/produce/v3/request.js,
// partitionsEncoder): timestamps, then one Record encoder per message.
function timestampsOf(messages: readonly Message[]): { firstTimestamp: string | number; maxTimestamp: string | number } {
  const given = messages.map((m) => m.timestamp).filter((t) => t != null)
  const timestamps = given.length === 0 ? [DATE_NOW] : given.sort()
  return { firstTimestamp: timestamps[0]!, maxTimestamp: timestamps[timestamps.length - 1]! }
}
function recordsOf(messages: readonly Message[], firstTimestamp: string | number): Encoder[] {
  return messages.map((m, i) => RecordEncoder({ ...m, offsetDelta: i, timestampDelta: Number(m.timestamp || DATE_NOW) - Number(firstTimestamp) }))
}

// A record as a consumer reads it, bytes as base64 (deep equality on large Buffers is slow).
interface Seen {
  key: string | null
  value: string | null
  headers: Record<string, string | null | (string | null)[]>
  offset: string
  timestamp: string
}
const b64 = (v: string | Buffer | null | undefined): string | null => (v == null ? null : Buffer.from(v).toString('base64'))

function seen(r: DecodedRecord): Seen {
  const headers: Seen['headers'] = {}
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v.map(b64) : b64(v)
  return { key: b64(r.key), value: b64(r.value), headers, offset: r.offset, timestamp: r.timestamp }
}

/** What kafkajs's decoder should read back from the record written for `m`. */
function sent(m: Message, i: number, firstTimestamp: string | number): Seen {
  const headers: Seen['headers'] = {}
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    const values = Array.isArray(v) ? v : [v]
    if (values.length > 0) headers[k] = values.length === 1 ? b64(values[0]) : values.map(b64)
  }
  return {
    key: b64(m.key),
    value: b64(m.value),
    headers,
    offset: String(i),
    timestamp: String(BigInt(firstTimestamp) + BigInt(Number(m.timestamp || DATE_NOW) - Number(firstTimestamp))),
  }
}

describe('uncompressed RecordBatch in one buffer (one-buffer-batch)', () => {
  for (const [mix, messages] of Object.entries(MIXES)) {
    for (const [kind, batch] of Object.entries(BATCHES)) {
      it(`writes kafkajs's own RecordBatch bytes, read back as sent: ${mix}, ${kind}`, async () => {
        const timestamps = timestampsOf(messages)
        const args = { ...batch, ...timestamps }
        const reference = await RecordBatch({ ...args, compression: Compression.None, records: recordsOf(messages, timestamps.firstTimestamp), lastOffsetDelta: messages.length - 1 })
        const bytes = encodeUncompressedRecordBatch({ ...args, messages, dateNow: DATE_NOW })
        expect(bytes).not.toBeNull()
        expect(bytes!.equals(reference.buffer)).toBe(true)

        const decoded = await RecordBatchDecoder(new Decoder(bytes!))
        expect(decoded).toMatchObject({ firstOffset: '0', lastOffsetDelta: messages.length - 1, producerId: args.producerId.toString(), inTransaction: args.transactional })
        expect(decoded.records.map(seen)).toEqual(messages.map((m, i) => sent(m, i, timestamps.firstTimestamp)))
      })
    }
  }

  it('leaves the headroom asked for, and allocates once', () => {
    const messages = MIXES['many records']!
    const args = { ...BATCHES.idempotent!, ...timestampsOf(messages), messages, dateNow: DATE_NOW }
    const alone = encodeUncompressedRecordBatch(args)!
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe')
    const alloc = vi.spyOn(Buffer, 'alloc')
    const withHeadroom = encodeUncompressedRecordBatch(args, 8)!
    expect(allocUnsafe).toHaveBeenCalledTimes(1)
    expect(alloc).not.toHaveBeenCalled()
    expect(withHeadroom.length).toBe(alone.length + 8)
    expect(withHeadroom.subarray(8).equals(alone)).toBe(true)
  })

  it("leaves values upstream cannot write as bytes to upstream's path", () => {
    const args = { ...BATCHES.plain!, firstTimestamp: DATE_NOW, maxTimestamp: DATE_NOW, dateNow: DATE_NOW }
    for (const odd of [{ value: 5 }, { value: 'v', key: new Uint8Array(2) }, { value: 'v', headers: { h: undefined } }, { value: 'v', headers: { h: [7] } }]) {
      expect(encodeUncompressedRecordBatch({ ...args, messages: [odd as unknown as Message] })).toBeNull()
    }
  })
})

// Upstream's produce request (kafkajs 2.2.4 src/protocol/requests/produce/v3/request.js) framed by
// upstream's src/protocol/request.js, on the unpatched RecordBatch encoder: the reference bytes.
async function upstreamRequest(args: ProduceArgs, correlationId: number, clientId: string | null): Promise<Buffer> {
  const transactionalId = args.transactionalId ?? null
  const topics: Encoder[] = []
  for (const { topic, partitions } of args.topicData) {
    const entries: Encoder[] = []
    for (const { partition, messages, firstSequence } of partitions) {
      const timestamps = timestampsOf(messages)
      const batch = await RecordBatch({
        compression: args.compression,
        records: recordsOf(messages, timestamps.firstTimestamp),
        ...timestamps,
        producerId: args.producerId,
        producerEpoch: args.producerEpoch,
        ...(firstSequence !== undefined && { firstSequence }),
        transactional: !!transactionalId,
        lastOffsetDelta: messages.length - 1,
      })
      entries.push(new EncoderClass().writeInt32(partition).writeInt32(batch.size()).writeEncoder(batch))
    }
    topics.push(new EncoderClass().writeString(topic).writeArray(entries))
  }
  const payload = new EncoderClass().writeString(transactionalId).writeInt16(args.acks).writeInt32(args.timeout).writeArray(topics)
  const requestPayload = new EncoderClass().writeInt16(0).writeInt16(3).writeInt32(correlationId).writeString(clientId).writeEncoder(payload)
  return new EncoderClass().writeInt32(requestPayload.size()).writeEncoder(requestPayload).buffer
}

describe('produce request (one-buffer-batch, sized-request)', () => {
  const topicData: ProduceArgs['topicData'] = [
    {
      topic: 'logs.raw',
      partitions: [
        { partition: 0, firstSequence: 10, messages: MIXES['many records']!.slice(0, 2000) },
        { partition: 2, firstSequence: 0, messages: MIXES.headers! },
        { partition: 5, firstSequence: 3, messages: MIXES.timestamps! },
      ],
    },
    { topic: 'lögs.dlq', partitions: [{ partition: 1, firstSequence: 0, messages: MIXES['null and empty keys and values']! }] },
  ]

  for (const [name, compression] of [['uncompressed', Compression.None], ['gzip', Compression.GZIP]] as const) {
    for (const transactionalId of [null, 'tx-1']) {
      for (const clientId of [null, 'sluice', 'slüice']) {
        it(`writes upstream's bytes: ${name}, transactionalId ${transactionalId}, clientId ${clientId}`, async () => {
          vi.spyOn(Date, 'now').mockReturnValue(DATE_NOW)
          const args: ProduceArgs = { acks: -1, timeout: 30_000, transactionalId, producerId: Long.fromInt(77), producerEpoch: 2, compression, topicData }
          const request = await createRequest({ correlationId: 42, clientId, request: produceRequest(args) })
          expect(request.buffer.equals(await upstreamRequest(args, 42, clientId))).toBe(true)
        })
      }
    }
  }

  it('writes a message upstream cannot encode through upstream, failing as it did', async () => {
    const args: ProduceArgs = {
      acks: -1,
      timeout: 30_000,
      producerId: Long.fromInt(-1),
      producerEpoch: 0,
      compression: Compression.None,
      topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ value: 5 as unknown as string }] }] }],
    }
    await expect(produceRequest(args).encode()).rejects.toThrow(TypeError)
  })
})
