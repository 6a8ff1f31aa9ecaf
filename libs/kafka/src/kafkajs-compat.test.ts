// The kafkajs patches (deploy/patches/kafkajs+2.2.4.patch), each against kafkajs's own code: the
// modules kafkajs itself requires, compared with upstream's definitions (kept in kafkajs where
// the patch leaves them, rewritten here from upstream where it replaces them) and read back by
// kafkajs's decoders. And the start-up check that those modules are the ones loaded.
import { createHash } from 'node:crypto'
import { createRequire } from 'node:module'
import net from 'node:net'
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
  writeInt8(n: number): Encoder
  writeInt16(n: number): Encoder
  writeInt32(n: number): Encoder
  writeInt64(n: number | string | Long): Encoder
  writeVarInt(n: number): Encoder
  writeVarLong(n: number): Encoder
  writeString(s: string | null): Encoder
  writeBuffer(b: Buffer): Encoder
  writeArray(a: Encoder[]): Encoder
  writeEncoder(e: Encoder): Encoder
}
interface Long {
  toString(): string
  gte(other: Long): boolean
}
interface BatchArgs {
  firstTimestamp: string | number
  maxTimestamp: string | number
  producerId: Long
  producerEpoch: number
  firstSequence?: number
  transactional: boolean
  firstOffset?: Long
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
interface KafkaDecoder {
  buffer: Buffer
  offset: number
  readInt8(): number
  readInt16(): number
  readInt32(): number
  readInt64(): bigint
  readVarInt(): number
  readVarIntBytes(): Buffer | null
  readBytes(length?: number): Buffer | null
  readAll(): Buffer
  readArray<T>(reader: (d: KafkaDecoder) => T): T[]
  canReadBytes(length: number): boolean
  slice(size: number): KafkaDecoder
  forward(size: number): void
}

const EncoderClass = kafkajs('src/protocol/encoder.js') as new (size?: number) => Encoder
const Decoder = kafkajs('src/protocol/decoder.js') as new (b: Buffer | null) => KafkaDecoder
const Long = kafkajs('src/utils/long.js') as { fromInt(n: number): Long; fromValue(v: string | number | bigint): Long }
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
interface Gathered {
  pieces: Buffer[]
  size(): number
}
interface KafkaConnection {
  connect(): Promise<void>
  disconnect(): Promise<void>
  send(protocol: { request: Request; response: { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<unknown> } }): Promise<unknown>
}
const Connection = kafkajs('src/network/connection.js') as new (opts: Record<string, unknown>) => KafkaConnection
const { createLogger, LEVELS } = kafkajs('src/loggers/index.js') as { createLogger(o: { level: number; logCreator: unknown }): unknown; LEVELS: { NOTHING: number } }
const defaultSocketFactory = kafkajs('src/network/socketFactory.js') as () => unknown
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

  it('holds the RecordBatches as encoded, behind the headers, never copied into one buffer (gather-write)', async () => {
    const args: ProduceArgs = { acks: -1, timeout: 30_000, producerId: Long.fromInt(77), producerEpoch: 2, compression: Compression.None, topicData }
    const concat = vi.spyOn(Buffer, 'concat')
    const request = (await createRequest({ correlationId: 7, clientId: 'sluice', request: produceRequest(args) })) as unknown as Gathered
    expect(concat).not.toHaveBeenCalled()
    // request header, produce fields; per topic: name and count, then one piece per partition
    expect(request.pieces).toHaveLength(2 + (1 + 3) + (1 + 1))
    expect(request.size()).toBe(request.pieces.reduce((n, p) => n + p.length, 0))
    // A partition's piece is the entry encodeUncompressedRecordBatch wrote (partition, size, batch).
    const partition5 = request.pieces[5]!
    expect(partition5.readInt32BE(0)).toBe(5)
    expect(partition5.readInt32BE(4)).toBe(partition5.length - 8)
  })

  it("sends a request held in pieces as upstream's bytes, in one corked write (gather-write)", async () => {
    vi.spyOn(Date, 'now').mockReturnValue(DATE_NOW)
    const received: Buffer[] = []
    const server = net.createServer((socket) => socket.on('data', (d) => received.push(d)))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const calls: string[] = []
    const proto = net.Socket.prototype
    for (const name of ['cork', 'uncork', 'write'] as const) {
      const original = proto[name] as (...a: unknown[]) => unknown
      vi.spyOn(proto, name).mockImplementation(function (this: net.Socket, ...a: unknown[]) {
        calls.push(name)
        return original.apply(this, a)
      })
    }
    const connection = new Connection({
      host: '127.0.0.1',
      port: (server.address() as net.AddressInfo).port,
      logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined }),
      socketFactory: defaultSocketFactory(),
      requestTimeout: 5000,
      connectionTimeout: 5000,
      clientId: 'sluice',
    })
    try {
      await connection.connect()
      // acks 0: kafkajs expects no answer, so the send settles once the bytes are written.
      const args: ProduceArgs = { acks: 0, timeout: 30_000, producerId: Long.fromInt(77), producerEpoch: 2, compression: Compression.None, topicData }
      calls.length = 0
      await connection.send({ request: produceRequest(args), response: { decode: async () => ({}), parse: async () => ({}) } })
      const expected = await upstreamRequest(args, 0, 'sluice')
      await vi.waitUntil(() => received.reduce((n, b) => n + b.length, 0) >= expected.length)
      expect(Buffer.concat(received).equals(expected)).toBe(true)
      expect(calls[0]).toBe('cork')
      expect(calls.at(-1)).toBe('uncork')
      expect(calls.filter((c) => c === 'write').length).toBe(2 + (1 + 3) + (1 + 1))
    } finally {
      await connection.disconnect()
      await new Promise((resolve) => server.close(resolve))
    }
  })

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

// The consume path (in-place-records, string-offset-filter): fetch responses decoded into the
// messages eachBatch receives, compared with upstream's decoders on batches kafkajs's own
// (unpatched) RecordBatch encoder writes.
interface ConsumedRecord {
  offset: unknown
  key: Buffer | null
  isControlRecord: boolean
  batchContext: { producerId: string; inTransaction: boolean }
}
interface PartitionData {
  partition: number
  abortedTransactions: { producerId: string; firstOffset: string }[]
  messages: ConsumedRecord[]
}
interface ConsumerBatch {
  messagesWithinOffset: ConsumedRecord[]
  messages: ConsumedRecord[]
}
interface Codec {
  decompress(b: Buffer): Promise<Buffer>
}

const { decodeUncompressedRecords } = kafkajs('src/protocol/recordBatch/v0/uncompressedDecoder.js') as {
  decodeUncompressedRecords(d: KafkaDecoder, batchContext: Record<string, unknown>): ConsumedRecord[]
}
const decodeMessages = kafkajs('src/protocol/requests/fetch/v4/decodeMessages.js') as (d: KafkaDecoder) => Promise<ConsumedRecord[]>
const fetchV11 = kafkajs('src/protocol/requests/fetch/v11/response.js') as {
  decode(raw: Buffer): Promise<{ responses: { topicName: string; partitions: (PartitionData & Record<string, unknown>)[] }[] }>
}
const Batch = kafkajs('src/consumer/batch.js') as new (topic: string, fetchedOffset: unknown, partitionData: PartitionData) => ConsumerBatch
// Unpatched: the references.
const upstreamRecord = RecordDecoder as unknown as (d: KafkaDecoder, batchContext: Record<string, unknown>) => ConsumedRecord
const MessageSetDecoder = kafkajs('src/protocol/messageSet/decoder.js') as (d: KafkaDecoder, size?: number) => Promise<ConsumedRecord[]>
const MessageSet = kafkajs('src/protocol/messageSet/index.js') as (args: { messageVersion: number; compression: number; entries: Message[] }) => Encoder
const filterAbortedMessages = kafkajs('src/consumer/filterAbortedMessages.js') as (args: Pick<PartitionData, 'messages' | 'abortedTransactions'>) => ConsumedRecord[]
const { lookupCodecByAttributes } = kafkajs('src/protocol/message/compression/index.js') as { lookupCodecByAttributes(attributes: number): Codec | null }
const { KafkaJSPartialMessageError } = kafkajs('src/errors.js') as { KafkaJSPartialMessageError: new (message: string) => Error }

// Upstream's src/protocol/recordBatch/v0/decoder.js (kafkajs 2.2.4), on upstream's record decoder.
async function upstreamRecordBatch(fetchDecoder: KafkaDecoder): Promise<Record<string, unknown> & { records: ConsumedRecord[] }> {
  const firstOffset = fetchDecoder.readInt64().toString()
  const length = fetchDecoder.readInt32()
  const decoder = fetchDecoder.slice(length)
  fetchDecoder.forward(length)
  const remainingBytes = Buffer.byteLength(decoder.buffer)
  if (remainingBytes < length) {
    throw new KafkaJSPartialMessageError(`Tried to decode a partial record batch: remainingBytes(${remainingBytes}) < recordBatchLength(${length})`)
  }
  const partitionLeaderEpoch = decoder.readInt32()
  const magicByte = decoder.readInt8()
  decoder.readInt32() // CRC, not checked
  const attributes = decoder.readInt16()
  const lastOffsetDelta = decoder.readInt32()
  const firstTimestamp = decoder.readInt64().toString()
  const maxTimestamp = decoder.readInt64().toString()
  const producerId = decoder.readInt64().toString()
  const producerEpoch = decoder.readInt16()
  const firstSequence = decoder.readInt32()
  const recordContext = {
    firstOffset,
    firstTimestamp,
    partitionLeaderEpoch,
    inTransaction: (attributes & 0x10) > 0,
    isControlBatch: (attributes & 0x20) > 0,
    lastOffsetDelta,
    producerId,
    producerEpoch,
    firstSequence,
    maxTimestamp,
    timestampType: (attributes & 0x08) > 0 ? 1 : 0,
  }
  const batchContext = { ...recordContext, magicByte }
  const decodeRecord = (d: KafkaDecoder): ConsumedRecord => upstreamRecord(new Decoder(d.readVarIntBytes()), batchContext)
  const codec = lookupCodecByAttributes(attributes)
  let records: ConsumedRecord[] = []
  if (!codec) {
    records = decoder.readArray(decodeRecord)
  } else {
    const count = decoder.readInt32()
    if (count > 0) {
      const decompressed = new Decoder(await codec.decompress(decoder.readAll()))
      records = Array.from({ length: count }, () => decodeRecord(decompressed))
    }
  }
  return { ...recordContext, records }
}

// Upstream's src/protocol/requests/fetch/v4/decodeMessages.js (kafkajs 2.2.4) on the above.
async function upstreamDecodeMessages(decoder: KafkaDecoder): Promise<ConsumedRecord[]> {
  const messagesSize = decoder.readInt32()
  if (messagesSize <= 0 || !decoder.canReadBytes(messagesSize)) return []
  const messagesBuffer = decoder.readBytes(messagesSize)!
  const messagesDecoder = new Decoder(messagesBuffer)
  if (messagesBuffer.slice(16).readInt8(0) !== 2) return MessageSetDecoder(messagesDecoder, messagesSize)
  const records: ConsumedRecord[] = []
  while (messagesDecoder.canReadBytes(49)) {
    try {
      records.push(...(await upstreamRecordBatch(messagesDecoder)).records)
    } catch (e) {
      if ((e as Error).name === 'KafkaJSPartialMessageError') break
      throw e
    }
  }
  return records
}

// Upstream's src/consumer/batch.js (kafkajs 2.2.4): the messages a Batch keeps.
function upstreamBatch(fetchedOffset: unknown, { messages, abortedTransactions }: PartitionData): ConsumerBatch {
  const longFetchedOffset = Long.fromValue(fetchedOffset as string)
  const messagesWithinOffset = messages.filter((m) => Long.fromValue(m.offset as string).gte(longFetchedOffset))
  return {
    messagesWithinOffset,
    messages: filterAbortedMessages({ messages: messagesWithinOffset, abortedTransactions }).filter((m) => !m.isControlRecord),
  }
}

/**
 * A decoded value as a comparable tree: every own key in order with its value, the prototype,
 * Buffers by their bytes and, when they are views of `input`, by where; each batch context once,
 * records naming theirs, so that records sharing one context share it in both decoders.
 */
function shapeOf(value: unknown, input?: ArrayBufferLike): unknown {
  const contexts = new Map<object, number>()
  const contextShapes: unknown[] = []
  const shape = (v: unknown): unknown => {
    if (typeof v === 'function') return `function ${v.name}`
    if (typeof v !== 'object' || v === null) return typeof v === 'number' && Object.is(v, -0) ? '-0' : v
    if (v === Object.prototype) return 'Object.prototype'
    if (Buffer.isBuffer(v)) {
      const bytes = `${v.length} bytes, sha1 ${createHash('sha1').update(v).digest('hex')}`
      return { bytes, view: v.buffer === input ? v.byteOffset : 'elsewhere' }
    }
    if (Array.isArray(v)) return v.map(shape)
    const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null
    const own = Reflect.ownKeys(v).map((k) => {
      const field = (v as Record<PropertyKey, unknown>)[k]
      if (k !== 'batchContext' || typeof field !== 'object' || field === null) return [String(k), shape(field)]
      if (!contexts.has(field)) contexts.set(field, contextShapes.push(shape(field)) - 1)
      return [String(k), `context ${contexts.get(field)}`]
    })
    return { proto: proto === Object.prototype ? 'Object' : String(proto?.constructor?.name), own }
  }
  return { value: shape(value), contexts: contextShapes }
}

/** What `run` returns or throws, as comparable data. */
async function outcome(run: () => Promise<unknown>, input: ArrayBufferLike): Promise<unknown> {
  try {
    return { returned: shapeOf(await run(), input) }
  } catch (e) {
    return { threw: `${(e as Error).name}: ${(e as Error).message}` }
  }
}

interface RecordArgs {
  offsetDelta?: number
  timestampDelta?: number
  key?: string | Buffer | null
  value: string | Buffer | null
  headers?: Record<string, HeaderValue | HeaderValue[]>
}
interface BatchSpec {
  records: RecordArgs[]
  firstOffset?: string
  firstTimestamp?: string | number
  maxTimestamp?: string | number
  compression?: number
  transactional?: boolean
  producerId?: number
  /** Attribute bits set after upstream wrote the batch: 0x20 control, 0x08 LOG_APPEND_TIME. */
  attributes?: number
}

/** A RecordBatch as kafkajs's own encoders write it (offset 0 of the bytes: FirstOffset). */
async function encodeBatch(spec: BatchSpec): Promise<Buffer> {
  const encoded = await RecordBatch({
    compression: spec.compression ?? Compression.None,
    firstOffset: Long.fromValue(spec.firstOffset ?? '0'),
    firstTimestamp: spec.firstTimestamp ?? DATE_NOW,
    maxTimestamp: spec.maxTimestamp ?? DATE_NOW + 999,
    producerId: Long.fromInt(spec.producerId ?? -1),
    producerEpoch: 0,
    transactional: spec.transactional ?? false,
    lastOffsetDelta: spec.records.length - 1,
    records: spec.records.map((r) => RecordEncoder({ ...r })),
  })
  const bytes = Buffer.from(encoded.buffer)
  if (spec.attributes !== undefined) {
    bytes.writeInt16BE(bytes.readInt16BE(21) | spec.attributes, 21)
    bytes.writeUInt32BE(crc32C(bytes.subarray(21)), 17)
  }
  return bytes
}

const ABORT_MARKER = { key: Buffer.from([0, 0, 0, 0]), value: Buffer.from([0, 0, 0, 0, 0, 9]) }
const COMMIT_MARKER = { key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 9]) }
const logs = (count: number, seed: number): RecordArgs[] => {
  const rnd = random(seed)
  return Array.from({ length: count }, (_, i) => ({
    offsetDelta: i,
    timestampDelta: Math.floor(i / 50) * 3,
    key: `tenant-${i % 7}/svc-${i % 50}`,
    value: Buffer.alloc(300 + Math.floor(rnd() * 600), i),
  }))
}

const DECODE_MIXES: Record<string, BatchSpec> = {
  'keyed logs': { records: logs(400, 1) },
  'null, missing and empty keys and values': {
    records: [
      { offsetDelta: 0, key: null, value: null },
      { offsetDelta: 1, value: Buffer.alloc(0) },
      { offsetDelta: 2, key: '', value: '' },
      { offsetDelta: 3, key: Buffer.alloc(0), value: null },
      { offsetDelta: 4, key: 'k', value: 'v' },
    ],
  },
  headers: {
    records: [
      { offsetDelta: 0, key: 'k', value: 'v', headers: { trace: 'abc', bin: Buffer.from([0, 1, 255]), many: ['1', Buffer.from('2'), '3'] } },
      { offsetDelta: 1, key: 'k', value: 'v', headers: { gone: null, again: [null, 'x', null], 'ünï/ключ': 'ß☃', '': 'empty key', '2': 'b', '1': 'a' } },
      // Keys upstream's `obj[key] === undefined` finds on Object.prototype: kept as upstream has them.
      { offsetDelta: 2, key: null, value: null, headers: { toString: 'x', constructor: ['y', 'z'], ['__proto__']: 'p', hasOwnProperty: null } },
      { offsetDelta: 3, key: 'k', value: 'v', headers: {} },
    ],
  },
  'large values': {
    records: [
      { offsetDelta: 0, key: 'big', value: Buffer.alloc(100_000, 3) },
      { offsetDelta: 1, key: 'bigger', value: Buffer.alloc(1_500_000, 4) },
      { offsetDelta: 2, key: 'x'.repeat(20_000), value: 'ü'.repeat(70_000) },
    ],
  },
  'offset deltas with gaps (compacted)': {
    firstOffset: '41',
    records: [0, 1, 5, 63, 64, 8191, 8192, 1_000_000, 2 ** 31 - 1].map((offsetDelta) => ({ offsetDelta, key: 'k', value: 'v' })),
  },
  'offsets across 2^53': { firstOffset: '9007199254740985', records: logs(20, 2) },
  'offsets past the int64 range': { firstOffset: '9223372036854775800', records: logs(12, 3) },
  'timestamp deltas': {
    records: [0, 1, -1, 63, -64, 2 ** 31, -(2 ** 31) - 1, 2 ** 40, 2 ** 47 - 1, -(2 ** 47), 2 ** 48, 2 ** 50, -(2 ** 52), 0].map((timestampDelta, offsetDelta) => ({
      offsetDelta,
      timestampDelta,
      key: 'k',
      value: 'v',
    })),
  },
  'no timestamps (-1)': { firstTimestamp: -1, maxTimestamp: -1, records: logs(3, 4) },
  'timestamps across 2^53': { firstTimestamp: '9007199254740990', records: logs(300, 5) },
  LOG_APPEND_TIME: { attributes: 0x08, maxTimestamp: '1700000123456', records: logs(30, 6) },
  'transactional, then its commit marker': { transactional: true, producerId: 99, records: logs(10, 7) },
  'control batch: an abort marker': { attributes: 0x20, transactional: true, producerId: 99, firstOffset: '10', records: [ABORT_MARKER] },
  'control batch: a commit marker': { attributes: 0x20, transactional: true, producerId: 99, records: [COMMIT_MARKER] },
  'empty batch': { records: [] },
  gzip: { compression: Compression.GZIP, records: logs(200, 8) },
  'gzip with headers and nulls': { compression: Compression.GZIP, records: [...logs(5, 9), { offsetDelta: 5, key: null, value: null, headers: { h: ['1', '2'] } }] },
}

describe('record batch decoder (in-place-records)', () => {
  for (const [mix, spec] of Object.entries(DECODE_MIXES)) {
    it(`returns upstream's records, field for field: ${mix}`, async () => {
      const bytes = Buffer.concat([await encodeBatch(spec), Buffer.from('next')])
      const readVarIntBytes = vi.spyOn(Decoder.prototype, 'readVarIntBytes')
      const patched = new Decoder(bytes)
      const actual = await outcome(() => RecordBatchDecoder(patched), bytes.buffer)
      const uncompressedCalls = readVarIntBytes.mock.calls.length
      const reference = new Decoder(bytes)
      expect(actual).toEqual(await outcome(() => upstreamRecordBatch(reference), bytes.buffer))
      expect(actual).toHaveProperty('returned')
      expect(patched.offset).toBe(reference.offset)
      expect(patched.offset).toBe(bytes.length - 4)
      // Uncompressed records are read in place (upstream's per-record path is the fallback),
      // except a timestamp delta of 8 varlong bytes or more.
      const fallbacks = spec.records.filter((r) => Math.abs(r.timestampDelta ?? 0) >= 2 ** 48).length
      if (spec.compression === undefined) expect(uncompressedCalls).toBe(fallbacks * 3)
    })
  }

  it('reads keys and values as views of the fetched bytes, a batch context shared by its records', async () => {
    const bytes = await encodeBatch(DECODE_MIXES['keyed logs']!)
    const { records } = await RecordBatchDecoder(new Decoder(bytes))
    const [first, second] = records as unknown as (ConsumedRecord & { value: Buffer })[]
    expect(first!.value.buffer).toBe(bytes.buffer)
    expect(first!.value.equals(Buffer.alloc(first!.value.length, 0))).toBe(true)
    expect(second!.batchContext).toBe(first!.batchContext)
    expect(first).toMatchObject({ offset: '0', timestamp: String(DATE_NOW), key: Buffer.from('tenant-0/svc-0'), headers: {}, isControlRecord: false })
  })

  // Records Kafka does not write, each fed to both decoders: the same result or the same error.
  const record = (write: (e: Encoder) => Encoder, length?: number): Buffer => {
    const body = write(new EncoderClass()).buffer
    return Buffer.concat([new EncoderClass().writeVarInt(length ?? body.length).buffer, body])
  }
  const fields = (key: number, value: number, rest: (e: Encoder) => Encoder = (e) => e.writeVarInt(0)) => (e: Encoder) =>
    rest(e.writeInt8(0).writeVarLong(0).writeVarInt(0).writeVarInt(key).writeBuffer(Buffer.alloc(Math.max(0, key), 7)).writeVarInt(value).writeBuffer(Buffer.alloc(Math.max(0, value), 8)))
  const good = record(fields(1, 2))
  const MALFORMED: Record<string, { count: number; records: Buffer[] }> = {
    'trailing bytes in a record': { count: 2, records: [record((e) => fields(1, 2)(e).writeBuffer(Buffer.from([1, 2, 3]))), good] },
    'a record shorter than its fields': { count: 2, records: [record(fields(1, 2), 5), good] },
    'a key past its record': { count: 2, records: [record(fields(1, 2), 9), good] },
    'a key length below -1': { count: 1, records: [record(fields(-3, 2))] },
    'a header count below -1': { count: 1, records: [record(fields(1, 2, (e) => e.writeVarInt(-2)))] },
    'a header key length below -1': { count: 1, records: [record(fields(1, 2, (e) => e.writeVarInt(1).writeVarInt(-4).writeVarInt(1).writeInt8(5)))] },
    'a header value past its record': { count: 2, records: [record(fields(1, 2, (e) => e.writeVarInt(1).writeVarInt(1).writeInt8(104).writeVarInt(9)), 11), good] },
    'a header count of -1': { count: 1, records: [record(fields(1, 2, (e) => e.writeVarInt(-1)))] },
    'a record of length 0': { count: 2, records: [record((e) => e, 0), good] },
    'a record of length -1': { count: 1, records: [record((e) => e, -1)] },
    'a record past the batch': { count: 1, records: [record(fields(1, 2), 40)] },
    // Its 30-byte key ends 25 bytes past the batch, where the fields would end as declared.
    'a record and its key past the batch': { count: 1, records: [record((e) => e.writeInt8(0).writeVarLong(0).writeVarInt(0).writeVarInt(30).writeBuffer(Buffer.alloc(5, 1)), 36)] },
    'a key longer than the buffer it is in': { count: 2, records: [record(fields(1, 2)), record((e) => e.writeInt8(0).writeVarLong(0).writeVarInt(0).writeVarInt(1_000_000))] },
    // Lengths read from the next bytes (upstream reads nothing there), going back into the record.
    'a value length past the record, then back': { count: 1, records: [record((e) => e.writeInt8(0).writeVarLong(0).writeVarInt(0).writeVarInt(-1)), new EncoderClass().writeVarInt(-2).buffer] },
    'a header key length past the record, then back': { count: 1, records: [record(fields(-1, -1, (e) => e)), new EncoderClass().writeVarInt(1).writeVarInt(-3).buffer] },
    'more records counted than written': { count: 3, records: [good, good] },
    'a record count of -1': { count: -1, records: [] },
    'a record count below -1': { count: -2, records: [] },
    'a 10-byte timestamp delta': { count: 1, records: [record((e) => e.writeInt8(0).writeBuffer(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).writeVarInt(0).writeVarInt(-1).writeVarInt(-1).writeVarInt(0))] },
    'an 11-byte timestamp delta': { count: 1, records: [record((e) => e.writeInt8(0).writeBuffer(Buffer.alloc(10, 0x80)).writeInt8(1).writeVarInt(0).writeVarInt(-1).writeVarInt(-1).writeVarInt(0))] },
  }

  for (const [name, { count, records }] of Object.entries(MALFORMED)) {
    it(`reads, or fails on, what Kafka does not write as upstream does: ${name}`, async () => {
      const bytes = Buffer.concat([new EncoderClass().writeInt32(count).buffer, ...records])
      const batchContext = { firstOffset: '7', firstTimestamp: String(DATE_NOW), magicByte: 2, isControlBatch: false, timestampType: 0, maxTimestamp: '0' }
      const patched = new Decoder(bytes)
      const reference = new Decoder(bytes)
      const actual = await outcome(async () => decodeUncompressedRecords(patched, batchContext), bytes.buffer)
      expect(actual).toEqual(await outcome(async () => reference.readArray((d) => upstreamRecord(new Decoder(d.readVarIntBytes()), batchContext)), bytes.buffer))
      expect(patched.offset).toBe(reference.offset)
    })
  }
})

/** A fetch response's record set: int32 size, then the batches (or a MessageSet). */
const recordSet = (bytes: Buffer): Buffer => Buffer.concat([new EncoderClass().writeInt32(bytes.length).buffer, bytes])

describe('fetched record sets (in-place-records)', () => {
  async function batches(): Promise<Buffer[]> {
    return Promise.all([
      encodeBatch({ firstOffset: '100', records: logs(50, 10) }),
      encodeBatch({ firstOffset: '150', transactional: true, producerId: 99, records: logs(3, 11) }),
      encodeBatch({ firstOffset: '153', attributes: 0x20, transactional: true, producerId: 99, records: [ABORT_MARKER] }),
      encodeBatch({ firstOffset: '154', compression: Compression.GZIP, records: logs(20, 12) }),
      encodeBatch({ firstOffset: '174', ...DECODE_MIXES.headers! }),
      encodeBatch({ firstOffset: '178', records: logs(40, 13) }),
    ])
  }

  it('decodes several batches back to back as upstream does, whole or cut anywhere in the last', async () => {
    const all = await batches()
    const whole = Buffer.concat(all)
    const last = all[all.length - 1]!
    for (const cut of [0, 1, 12, 48, 49, 61, 62, 300, last.length - 1, last.length]) {
      const bytes = recordSet(whole.subarray(0, whole.length - last.length + cut))
      const actual = await outcome(() => decodeMessages(new Decoder(bytes)), bytes.buffer)
      expect(actual, `last batch cut at ${cut} bytes`).toEqual(await outcome(() => upstreamDecodeMessages(new Decoder(bytes)), bytes.buffer))
      const records = (actual as { returned: { value: unknown[] } }).returned.value
      expect(records.length).toBe(50 + 3 + 1 + 20 + 4 + (cut === last.length ? 40 : 0))
    }
  })

  it('decodes a batch of 200 000 records, which upstream cannot append (call stack)', async () => {
    const bytes = recordSet(await encodeBatch({ records: Array.from({ length: 200_000 }, (_, offsetDelta) => ({ offsetDelta, value: null })) }))
    await expect(upstreamDecodeMessages(new Decoder(bytes))).rejects.toThrow(RangeError)
    const records = await decodeMessages(new Decoder(bytes))
    expect(records.length).toBe(200_000)
    expect(records[199_999]).toMatchObject({ offset: '199999', key: null })
  })

  it('leaves a MessageSet (magic byte 0 or 1) to upstream', async () => {
    for (const messageVersion of [0, 1]) {
      for (const compression of [Compression.None, Compression.GZIP]) {
        const entries = [{ key: 'k', value: 'v', timestamp: DATE_NOW }, { value: 'w', timestamp: DATE_NOW + 1 }]
        const bytes = recordSet(MessageSet({ messageVersion, compression, entries }).buffer)
        const actual = await outcome(() => decodeMessages(new Decoder(bytes)), bytes.buffer)
        expect(actual).toEqual(await outcome(() => upstreamDecodeMessages(new Decoder(bytes)), bytes.buffer))
        expect((actual as { returned: { value: unknown[] } }).returned.value).toHaveLength(2)
      }
    }
  })

  it('decodes a fetch v11 response (what kafkajs uses against Kafka 4) as upstream does', async () => {
    const [first, ...rest] = await batches()
    const sets = [recordSet(first!), recordSet(Buffer.concat(rest).subarray(0, -7)), recordSet(Buffer.alloc(0))]
    const partition = (set: Buffer, i: number): Encoder =>
      new EncoderClass()
        .writeInt32(i)
        .writeInt16(0)
        .writeInt64('300')
        .writeInt64('290')
        .writeInt64('0')
        .writeArray(i === 1 ? [new EncoderClass().writeInt64('99').writeInt64('150')] : [])
        .writeInt32(-1)
        .writeBuffer(set)
    const topic = new EncoderClass().writeString('logs.raw').writeArray(sets.map(partition))
    const raw = new EncoderClass().writeInt32(0).writeInt16(0).writeInt32(5).writeArray([topic]).buffer
    const { responses } = await fetchV11.decode(raw)
    expect(responses.map((r) => r.topicName)).toEqual(['logs.raw'])
    const partitions = responses[0]!.partitions
    expect(partitions.map(({ messages: _, ...header }) => header)).toEqual(
      [0, 1, 2].map((i) => ({
        partition: i,
        errorCode: 0,
        highWatermark: '300',
        lastStableOffset: '290',
        lastStartOffset: '0',
        abortedTransactions: i === 1 ? [{ producerId: '99', firstOffset: '150' }] : [],
        preferredReadReplica: -1,
      })),
    )
    // Bytes compared, not where they lie (the reference reads the record sets on their own).
    for (const [i, set] of sets.entries()) {
      expect(shapeOf(partitions[i]!.messages)).toEqual(shapeOf(await upstreamDecodeMessages(new Decoder(set))))
    }
    expect(partitions.map((p) => p.messages.length)).toEqual([50, 3 + 1 + 20 + 4, 0])
  })
})

describe('consumer batch (string-offset-filter)', () => {
  // Offsets 95..154 of producer 99, part of it in a transaction its abort marker (153) ends.
  async function partitionData(abortedTransactions: PartitionData['abortedTransactions']): Promise<PartitionData> {
    const bytes = recordSet(
      Buffer.concat([
        await encodeBatch({ firstOffset: '95', records: logs(5, 20) }),
        await encodeBatch({ firstOffset: '100', transactional: true, producerId: 99, records: logs(53, 21) }),
        await encodeBatch({ firstOffset: '153', attributes: 0x20, transactional: true, producerId: 99, records: [ABORT_MARKER] }),
        await encodeBatch({ firstOffset: '154', records: logs(1, 22) }),
      ]),
    )
    return { partition: 0, abortedTransactions, messages: await decodeMessages(new Decoder(bytes)) }
  }
  const offsetsOf = (b: ConsumerBatch) => ({ within: b.messagesWithinOffset.map((m) => m.offset), messages: b.messages.map((m) => m.offset) })

  const FETCHED_OFFSETS: unknown[] = ['0', '9', '95', '96', '99', '100', '101', '120', '153', '154', '155', '1000', '9007199254740993', '007', '0099', '-1', '', 99, 120n]
  for (const aborted of [[], [{ producerId: '99', firstOffset: '120' }]]) {
    it(`keeps the messages upstream keeps, from any fetched offset: ${aborted.length} aborted transactions`, async () => {
      const data = await partitionData(aborted)
      for (const fetchedOffset of FETCHED_OFFSETS) {
        let reference: ConsumerBatch
        try {
          reference = upstreamBatch(fetchedOffset, data)
        } catch (e) {
          expect(() => new Batch('t', fetchedOffset, data), `fetched ${String(fetchedOffset)}`).toThrow((e as Error).message)
          continue
        }
        const batch = new Batch('t', fetchedOffset, data)
        expect(offsetsOf(batch), `fetched ${String(fetchedOffset)}`).toEqual(offsetsOf(reference))
        expect(batch.messages.every((m, i) => m === reference.messages[i])).toBe(true)
      }
    })
  }

  it('compares offsets that are not canonical decimals as upstream does', () => {
    const messages = ['-1', '0', '007', '7', '08', 8, '10', 11n, '99', '100'].map((offset) => ({ offset, key: null, isControlRecord: false, batchContext: { producerId: '-1', inTransaction: false } }))
    const data = { partition: 0, abortedTransactions: [], messages }
    for (const fetchedOffset of ['0', '7', '8', '9', '10', '100', '-5']) {
      expect(offsetsOf(new Batch('t', fetchedOffset, data)), `fetched ${fetchedOffset}`).toEqual(offsetsOf(upstreamBatch(fetchedOffset, data)))
    }
  })
})
