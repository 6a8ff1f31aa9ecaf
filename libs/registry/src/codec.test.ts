import avro from 'avsc'
import { describe, expect, it } from 'vitest'
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
import { AvroCodec, avroType, loadAvsc } from './index.js'

// avsc's own long (a JS number, exact below 2^53) and its 8-byte custom-long path are
// independent encoders of the same zig-zag varint: the bigint long must agree with both.
const native = avro.Type.forSchema('long')
const viaBytes = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(n)
    return b
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
})

/** A registry that hands out ids and serves schemas back by id, as a Confluent registry does. */
const fakeRegistry = () => {
  const schemas = new Map<number, object>()
  return {
    register: async (s: { schema: string }) => {
      const id = schemas.size + 1
      schemas.set(id, JSON.parse(s.schema) as object)
      return { id }
    },
    getSchema: async (id: number) => avroType(schemas.get(id)),
  } as unknown as SchemaRegistry
}

const EDGES = [0n, 1n, -1n, 63n, -64n, 64n, 2n ** 27n, 2n ** 28n - 1n, 2n ** 28n, -(2n ** 28n), 2n ** 31n, 2n ** 32n, -(2n ** 32n) - 1n, 2n ** 35n, 2n ** 53n + 1n, 1_763_899_200_123_456_789n, -(2n ** 63n), 2n ** 63n - 1n]

describe('bigint longs', () => {
  const long = avroType('long')

  it('write the same bytes as avsc and read them back exactly', () => {
    const values = [...EDGES]
    // Pseudo-random values over every magnitude, reproducible.
    let x = 0x9e3779b97f4a7c15n
    for (let i = 0; i < 2000; i++) {
      x = (x * 6364136223846793005n + 1442695040888963407n) & (2n ** 64n - 1n)
      values.push(BigInt.asIntN(64, x >> BigInt(i % 64)))
    }
    for (const v of values) {
      const bytes = long.toBuffer(v)
      expect(bytes, String(v)).toEqual(viaBytes.toBuffer(v))
      if (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) expect(bytes).toEqual(native.toBuffer(Number(v)))
      expect(long.fromBuffer(bytes)).toBe(v)
    }
  })

  it('decode inside records, after other fields, and reject what is not a long', () => {
    const type = avroType(loadAvsc('log-event.avsc'))
    const value = type.fromBuffer(type.toBuffer(type.random()))
    expect(typeof (value as { timestamp: unknown }).timestamp).toBe('bigint')
    expect(type.fromBuffer(type.toBuffer(value))).toEqual(value)
    expect(() => long.toBuffer(2n ** 63n)).toThrow(/invalid "long"/)
    expect(() => long.toBuffer(5)).toThrow(/invalid "long"/)
  })

  it('report a varint cut short as a truncated buffer', () => {
    const bytes = long.toBuffer(1_763_899_200_123_456_789n)
    expect(() => long.fromBuffer(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/)
  })
})

describe('AvroCodec projections', () => {
  const full = loadAvsc('enriched-log.avsc') as { fields: Array<{ name: string }> }
  const reader = { ...full, fields: full.fields.filter((f) => ['id', 'service', 'timestamp', 'message'].includes(f.name)) }

  it('read only the projected fields of records written under the full schema, and of an older writer schema', async () => {
    const registry = fakeRegistry()
    const type = avroType(full)
    const record = type.fromBuffer(type.toBuffer(type.random())) as Record<string, unknown>
    const codec = await AvroCodec.register<Record<string, unknown>>(registry, 'enriched-value', full)
    const projected = codec.projection<Record<string, unknown>>(reader)
    const decoded = projected.decodeSync(codec.encode(record))!
    expect(Object.keys(decoded).sort()).toEqual(['id', 'message', 'service', 'timestamp'])
    expect(decoded).toEqual({ id: record.id, service: record.service, timestamp: record.timestamp, message: record.message })

    // An older writer, without the last field: resolved through the registry by its id.
    const older = { ...full, fields: full.fields.filter((f) => f.name !== 'parsed_format') }
    const olderCodec = await AvroCodec.register<Record<string, unknown>>(registry, 'enriched-value', older)
    const { parsed_format: _, ...olderRecord } = record
    const bytes = olderCodec.encode(olderRecord)
    expect(projected.decodeSync(bytes)).toBeUndefined()
    expect(await projected.decode(bytes)).toEqual({ id: record.id, service: record.service, timestamp: record.timestamp, message: record.message })
    // Cut short: refused, not misread.
    expect(() => projected.decodeSync(codec.encode(record).subarray(0, 20))).toThrow(/truncated/)
  })
})

describe('AvroCodec.prefixedBy', () => {
  type Rec = Record<string, unknown>

  it("copies the first record's bytes and encodes the rest: the same bytes as encoding the whole record", async () => {
    const reg = fakeRegistry()
    const raw = await AvroCodec.register<Rec>(reg, 'raw-value', loadAvsc('log-event.avsc'))
    const enriched = await AvroCodec.register<Rec>(reg, 'enriched-value', loadAvsc('enriched-log.avsc'))
    const prefixed = enriched.prefixedBy(raw)!
    expect(prefixed).toBeDefined()
    const rawType = avroType(loadAvsc('log-event.avsc'))
    const enrichedType = avroType(loadAvsc('enriched-log.avsc'))
    const target = Buffer.alloc(1 << 16)
    for (let i = 0; i < 300; i++) {
      // Random records (any text, bigints over the whole range, nulls and maps), framed as on the topic.
      const bytes = raw.encode(rawType.fromBuffer(rawType.toBuffer(rawType.random())))
      const event = raw.decodeSync(bytes)!
      const record = { ...(enrichedType.random() as unknown as Rec), ...event }
      const end = prefixed.encodeInto(record, event, bytes, 0, bytes.length, target, 7)
      expect(end).toBeGreaterThan(0)
      expect(target.subarray(7, end)).toEqual(enriched.encode(record))
      // Inside a larger buffer too, where the record sits after others.
      const framed = Buffer.concat([Buffer.from('xyz'), bytes, Buffer.from('!')])
      expect(prefixed.encodeInto(record, event, framed, 3, 3 + bytes.length, target, 0)).toBe(end! - 7)
    }
  })

  it('leaves a record whose first fields changed, or that was written under another schema, to be encoded whole', async () => {
    const reg = fakeRegistry()
    const rawSchema = loadAvsc('log-event.avsc') as { fields: Array<{ name: string }> }
    const raw = await AvroCodec.register<Rec>(reg, 'raw-value', rawSchema)
    const enriched = await AvroCodec.register<Rec>(reg, 'enriched-value', loadAvsc('enriched-log.avsc'))
    const prefixed = enriched.prefixedBy(raw)!
    const rawType = avroType(rawSchema)
    const bytes = raw.encode(rawType.fromBuffer(rawType.toBuffer(rawType.random())))
    const event = raw.decodeSync(bytes)!
    const record = { ...(avroType(loadAvsc('enriched-log.avsc')).random() as unknown as Rec), ...event }
    const target = Buffer.alloc(1 << 16)
    expect(prefixed.encodeInto({ ...record, message: `${String(event.message)}.` }, event, bytes, 0, bytes.length, target, 0)).toBeUndefined()
    // The same entries in another map: not known to be unchanged.
    expect(prefixed.encodeInto({ ...record, attributes: { ...(event.attributes as Rec) } }, event, bytes, 0, bytes.length, target, 0)).toBeUndefined()
    expect(prefixed.encodeInto({ ...record, timestamp: (event.timestamp as bigint) + 1n }, event, bytes, 0, bytes.length, target, 0)).toBeUndefined()
    // Too little room: the bytes missing, as encodeInto says.
    expect(prefixed.encodeInto(record, event, bytes, 0, bytes.length, Buffer.alloc(3), 0)).toBeLessThan(0)
    // Written under an older version of the raw schema (another id): its bytes are not this schema's.
    const older = await AvroCodec.register<Rec>(reg, 'raw-value', { ...rawSchema, fields: rawSchema.fields.filter((f) => f.name !== 'source') })
    const olderBytes = older.encode(event)
    expect(prefixed.encodeInto(record, event, olderBytes, 0, olderBytes.length, target, 0)).toBeUndefined()
    // Schemas that do not begin with the other's fields.
    expect(raw.prefixedBy(enriched)).toBeUndefined()
    const alert = await AvroCodec.register<Rec>(reg, 'alert-value', loadAvsc('alert.avsc'))
    expect(alert.prefixedBy(raw)).toBeUndefined()
    const reordered = await AvroCodec.register<Rec>(reg, 'r-value', { ...rawSchema, name: 'Other', fields: [...rawSchema.fields.slice(1), rawSchema.fields[0], { name: 'x', type: 'int' }] })
    expect(reordered.prefixedBy(raw)).toBeUndefined()
  })
})

describe('AvroCodec.register', () => {
  it('calls a collision with another process registering the same subject retryable, a refused schema not', async () => {
    const failing = (err: Error) => ({ register: async () => Promise.reject(err) }) as unknown as SchemaRegistry
    const race = Object.assign(new Error("Confluent_Schema_Registry - A rule named 'COMPATIBILITY' already exists."), { name: 'ConfluentSchemaRegistryResponseError', status: 409 })
    await expect(AvroCodec.register(failing(race), 's-value', { type: 'string' })).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', canRetry: true })
    const unset = Object.assign(new Error('Compatibility does not match the configuration (BACKWARD != NONE)'), { name: 'ConfluentSchemaRegistryCompatibilityError' })
    await expect(AvroCodec.register(failing(unset), 's-value', { type: 'string' })).rejects.toMatchObject({ canRetry: true })
    const incompatible = Object.assign(new Error('Schema being registered is incompatible with an earlier schema'), { name: 'ConfluentSchemaRegistryResponseError', status: 422 })
    await expect(AvroCodec.register(failing(incompatible), 's-value', { type: 'string' })).rejects.toMatchObject({ code: 'REGISTRY_UNAVAILABLE', canRetry: false })
  })
})
