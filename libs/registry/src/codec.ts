// Avro codecs over a Confluent-compatible schema registry (Confluent Schema Registry, Apicurio's
// ccompat API, Karapace). Wire format of every record value (Confluent framing):
//
//   byte 0      magic byte 0x00
//   bytes 1..4  schema id, big-endian int32 (the registry's global id)
//   bytes 5..   Avro binary encoding of the value under that schema
//
// Encoding is synchronous on the hot path (the schema is registered once at start-up). Decoding
// resolves the writer's schema by id (cached) against our reader schema, so records written
// under an older compatible version still decode.
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry'
import avro from 'avsc'
import type { Type } from 'avsc'
import { SluiceError } from '@sluice/core'
import { avscTypeOptions } from './avsc-compat.js'

const MAGIC = 0
const EMPTY = Buffer.alloc(0)
const HEADER_BYTES = 5

/**
 * The avsc type of `schema` as every codec here reads and writes it: every `long` (plain or with
 * a logical type such as timestamp-nanos) as a bigint, see avsc-compat.ts. The first call checks
 * avsc and throws if the bigint long cannot work.
 */
export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, avscTypeOptions())
}

export function createRegistryClient(url: string): SchemaRegistry {
  return new SchemaRegistry({ host: url, retry: { retries: 2, initialRetryTimeInSecs: 0.2, maxRetryTimeInSecs: 2 } }, {
    [SchemaType.AVRO]: avscTypeOptions(),
  })
}

/** Readiness probe: the registry answers. */
export async function pingRegistry(url: string): Promise<void> {
  const res = await fetch(`${url.replace(/\/$/, '')}/subjects`, { signal: AbortSignal.timeout(2000) })
  if (!res.ok) throw new Error(`schema registry answered ${res.status}`)
}

/**
 * Two processes registering the same subject at once (every service of a stack starting
 * together) can collide on the subject's compatibility setting: the second is told the rule
 * already exists, or reads the subject's default (NONE) before the first set BACKWARD.
 * Registering again then succeeds; a subject configured otherwise for good keeps failing, and
 * start-up gives up at its deadline with this message.
 */
function isRegistrationRace(err: unknown): boolean {
  const status = (err as { status?: number }).status
  return status === 409 || /already exists|Compatibility does not match the configuration/i.test(err instanceof Error ? err.message : String(err))
}

/** Worth retrying: the registry was unreachable or overloaded, not a bad schema or a 4xx. */
function isNetworkError(err: unknown): boolean {
  if (err instanceof Error && err.name.startsWith('ConfluentSchemaRegistry')) return false
  const status = (err as { status?: number }).status
  if (typeof status === 'number') return status >= 500 || status === 429
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN|socket|network|timed? ?out/i.test(err instanceof Error ? err.message : String(err))
}

export class AvroCodec<T> {
  readonly subject: string
  readonly id: number
  /** The schema as registered (JSON), e.g. to build the same codec on another thread. */
  readonly schema: object
  readonly #type: Type
  readonly #registry: SchemaRegistry
  readonly #resolvers = new Map<number, ReturnType<Type['createResolver']>>()
  /** Reads another schema than `schema` (a projection): even our own records go through a resolver. */
  readonly #projected: boolean
  #scratch: Buffer

  private constructor(registry: SchemaRegistry, subject: string, id: number, schema: object, type: Type, projected = false) {
    this.#registry = registry
    this.subject = subject
    this.id = id
    this.schema = schema
    this.#type = type
    this.#projected = projected
    this.#scratch = this.#newScratch(64 * 1024)
  }

  /**
   * A decoder of this subject's records that reads only `readerSchema`'s fields — a record of the
   * same name with some of this schema's fields: Avro schema resolution skips the others (no
   * strings, maps or objects built for them). Records of every writer schema id decode, as with
   * the codec itself. Decoding only.
   */
  projection<P>(readerSchema: object): AvroCodec<P> {
    const p = new AvroCodec<P>(this.#registry, this.subject, this.id, this.schema, avroType(readerSchema), true)
    p.#resolvers.set(this.id, p.#type.createResolver(this.#type))
    return p
  }

  /** Registers `schema` under `subject` with BACKWARD compatibility and returns its codec. */
  static async register<T>(registry: SchemaRegistry, subject: string, schema: object): Promise<AvroCodec<T>> {
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schema) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      )
      return new AvroCodec<T>(registry, subject, id, schema, avroType(schema))
    } catch (err) {
      throw new SluiceError('REGISTRY_UNAVAILABLE', `registering ${subject} failed: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        canRetry: isNetworkError(err) || isRegistrationRace(err),
      })
    }
  }

  /** Encodes into a scratch buffer that already holds the header, then copies out once. */
  encode(value: T): Buffer {
    let end = this.#type.encode(value, this.#scratch, HEADER_BYTES)
    if (end < 0) {
      // avsc reports the missing space as a negative end: grow and encode again.
      this.#scratch = this.#newScratch(Math.max(this.#scratch.length * 2, this.#scratch.length - end))
      end = this.#type.encode(value, this.#scratch, HEADER_BYTES)
    }
    return Buffer.from(this.#scratch.subarray(0, end))
  }

  /**
   * Encodes (header included) into `target` at `offset`: the end offset, or a negative number
   * when `target` is too small (its size is about the bytes missing), leaving `target` unusable
   * past `offset`.
   */
  encodeInto(value: T, target: Buffer, offset: number): number {
    if (target.length < offset + HEADER_BYTES) return target.length - offset - HEADER_BYTES - 1
    target[offset] = MAGIC
    target.writeInt32BE(this.id, offset + 1)
    return this.#type.encode(value, target, offset + HEADER_BYTES)
  }

  #newScratch(size: number): Buffer {
    const buf = Buffer.allocUnsafe(size)
    buf.writeUInt8(MAGIC, 0)
    buf.writeInt32BE(this.id, 1)
    return buf
  }

  /**
   * An encoder of this schema's records for those that carry a record of `prefix`'s schema
   * unchanged as their first fields (the enricher's output begins with the raw record's fields):
   * those fields' bytes are copied from that record's encoding, the others encoded. Undefined
   * unless this schema's first fields are `prefix`'s, with the same names and types in the same order.
   */
  prefixedBy<P>(prefix: AvroCodec<P>): PrefixedEncoder<T> | undefined {
    const fields = (t: Type) => (t as unknown as { fields?: { name: string; type: Type }[] }).fields
    const own = fields(this.#type)
    const first = fields(prefix.#type)
    if (!own || !first || own.length <= first.length) return undefined
    const same = first.every((f, i) => f.name === own[i]!.name && JSON.stringify(f.type.schema()) === JSON.stringify(own[i]!.type.schema()))
    if (!same) return undefined
    let rest: Type
    try {
      const schema = this.schema as { name: string; fields: unknown[] }
      rest = avroType({ ...schema, name: `${schema.name}AfterPrefix`, fields: schema.fields.slice(first.length) })
    } catch {
      // The other fields name a type the prefix's fields define: encode whole.
      return undefined
    }
    return new PrefixedEncoder<T>(this.id, prefix.id, first.map((f) => f.name), rest)
  }

  async decode(buf: Buffer | null): Promise<T> {
    const known = this.decodeSync(buf)
    if (known !== undefined) return known
    const id = buf!.readInt32BE(1)
    return this.#read(buf!, 0, buf!.length, id, await this.#resolver(id))
  }

  /**
   * decode() without a promise when the writer's schema is known (ours, or one resolved before):
   * undefined when it first needs fetching from the registry (call decode then).
   */
  decodeSync(buf: Buffer | null): T | undefined {
    return buf ? this.decodeSyncAt(buf, 0, buf.length) : this.decodeSyncAt(EMPTY, 0, 0)
  }

  /** decodeSync() of the record in `buf[start, end)`, without a Buffer view of it. */
  decodeSyncAt(buf: Buffer, start: number, end: number): T | undefined {
    if (end - start < HEADER_BYTES) throw new SluiceError('DECODE_FAILED', `record too short for the Confluent wire format (${end - start} bytes)`)
    if (buf[start] !== MAGIC) throw new SluiceError('DECODE_FAILED', `unknown magic byte ${buf[start]} (expected 0, Confluent wire format)`)
    const id = buf.readInt32BE(start + 1)
    if (id === this.id && !this.#projected) return this.#read(buf, start, end, id, undefined)
    const resolver = this.#resolvers.get(id)
    return resolver && this.#read(buf, start, end, id, resolver)
  }

  #read(buf: Buffer, start: number, end: number, id: number, resolver: ReturnType<Type['createResolver']> | undefined): T {
    let decoded: { value: unknown; offset: number }
    try {
      decoded = this.#type.decode(buf, start + HEADER_BYTES, resolver)
    } catch (err) {
      throw new SluiceError('DECODE_FAILED', `Avro decode under schema id ${id} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    // avsc reports a record cut short as offset -1; one that ends early, or runs into the bytes
    // after `end`, does not fill [start, end) exactly.
    if (decoded.offset !== end) {
      const why = decoded.offset < 0 || decoded.offset > end ? 'truncated buffer' : 'trailing data'
      throw new SluiceError('DECODE_FAILED', `Avro decode under schema id ${id} failed: ${why}`)
    }
    return decoded.value as T
  }

  async #resolver(id: number): Promise<ReturnType<Type['createResolver']>> {
    const known = this.#resolvers.get(id)
    if (known) return known
    let writer: Type
    try {
      writer = (await this.#registry.getSchema(id)) as unknown as Type
    } catch (err) {
      const retry = isNetworkError(err)
      throw new SluiceError(retry ? 'REGISTRY_UNAVAILABLE' : 'DECODE_FAILED', `schema id ${id}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
        canRetry: retry,
      })
    }
    const resolver = this.#type.createResolver(writer)
    this.#resolvers.set(id, resolver)
    return resolver
  }
}

/** See AvroCodec.prefixedBy. */
export class PrefixedEncoder<T> {
  readonly #id: number
  readonly #prefixId: number
  readonly #names: readonly string[]
  readonly #rest: Type

  constructor(id: number, prefixId: number, names: readonly string[], rest: Type) {
    this.#id = id
    this.#prefixId = prefixId
    this.#names = names
    this.#rest = rest
  }

  /**
   * As AvroCodec.encodeInto, where `from[start, end)` is the encoding of `read` (a record of the
   * prefix's schema, under its id): undefined where `value` changed any of `read`'s fields (the
   * same strings and numbers, the same maps and arrays), or `read` was written under another
   * schema id; the caller then encodes it whole.
   */
  encodeInto(value: T, read: object, from: Buffer, start: number, end: number, target: Buffer, offset: number): number | undefined {
    if (from.readInt32BE(start + 1) !== this.#prefixId) return undefined
    const a = value as Record<string, unknown>
    const b = read as Record<string, unknown>
    for (const name of this.#names) if ((a[name] ?? null) !== (b[name] ?? null)) return undefined
    const body = offset + end - start
    if (target.length < body) return target.length - body - 1
    target[offset] = MAGIC
    target.writeInt32BE(this.#id, offset + 1)
    from.copy(target, offset + HEADER_BYTES, start + HEADER_BYTES, end)
    return this.#rest.encode(value, target, body)
  }
}
