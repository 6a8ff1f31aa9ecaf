// Avro `long` as a JS bigint, built on avsc internals, and the start-up check that keeps that
// safe. Epoch nanoseconds do not fit a double exactly, so every `long` (plain or with a logical
// type such as timestamp-nanos) is a bigint. avsc's hook for a custom long (`LongType.__with`)
// goes through an 8-byte Buffer per value, one allocation per read and write; the zig-zag varint
// is read and written here directly instead, by overriding the type's `_read`/`_write` (what
// avsc's generated record readers and writers, and its resolvers, call), with the 64-bit value
// held as two uint32 halves and converted by one shared 8-byte view.
//
// `_read`/`_write` are not avsc's API. avsc is pinned exactly (5.7.9, libs/registry/package.json)
// and, once, when the first codec or registry client is made, avscTypeOptions() checks that
// version and proves the mechanism on a probe built like the real type: a record with long
// fields (plain, logical, in a union) written, read, and read through a resolver must call the
// probe's `_read`/`_write` for every long, and write avsc's own bytes; the schema registry
// client must load the same avsc. Otherwise it throws, saying what to do: an avsc whose
// internals moved would otherwise fall back to the slow 8-byte path silently, or misread longs.
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { endianness } from 'node:os'
import avro from 'avsc'
import { SluiceError, errorMessage } from '@sluice/core'

export const AVSC_VERSION = '5.7.9'

const long64 = new BigInt64Array(1)
const halves = new Uint32Array(long64.buffer)
const [LO, HI] = endianness() === 'LE' ? [0, 1] : [1, 0]
const MIN_LONG = -(2n ** 63n)
const MAX_LONG = 2n ** 63n - 1n

/** avsc's Tap, as far as the varint code uses it. */
interface AvscTap {
  buf: Buffer
  pos: number
}
type Read = (tap: AvscTap) => bigint
type Write = (tap: AvscTap, n: unknown) => void

/** Reads a zig-zag varint of up to 10 bytes; past the buffer's end, `tap.pos` says so (avsc's validity check). */
function readBigLong(tap: AvscTap): bigint {
  const buf = tap.buf
  let lo = 0
  let hi = 0
  let b: number
  let shift = 0
  // Bits 0–27 from four bytes, bits 28–31 and 32–34 from the fifth, then the high half.
  do {
    b = buf[tap.pos++]!
    lo |= (b & 0x7f) << shift
    shift += 7
  } while (b & 0x80 && shift < 28)
  if (b & 0x80) {
    b = buf[tap.pos++]!
    lo |= (b & 0x0f) << 28
    hi = (b & 0x7f) >>> 4
    shift = 3
    while (b & 0x80 && shift < 32) {
      b = buf[tap.pos++]!
      hi |= (b & 0x7f) << shift
      shift += 7
    }
  }
  // Zig-zag: (v >>> 1) ^ -(v & 1), over both halves.
  const sign = -(lo & 1)
  halves[LO] = ((lo >>> 1) | (hi << 31)) ^ sign
  halves[HI] = (hi >>> 1) ^ sign
  return long64[0]!
}

function writeBigLong(tap: AvscTap, n: bigint): void {
  long64[0] = n
  const lo0 = halves[LO]!
  const hi0 = halves[HI]!
  // Zig-zag: (v << 1) ^ (v >> 63).
  const sign = hi0 >> 31
  let lo = ((lo0 << 1) ^ sign) >>> 0
  let hi = (((hi0 << 1) | (lo0 >>> 31)) ^ sign) >>> 0
  const buf = tap.buf
  while (hi !== 0 || lo > 0x7f) {
    buf[tap.pos++] = (lo & 0x7f) | 0x80
    lo = ((lo >>> 7) | (hi << 25)) >>> 0
    hi >>>= 7
  }
  buf[tap.pos++] = lo
}

function writeCheckedLong(tap: AvscTap, n: unknown): void {
  if (typeof n !== 'bigint' || n < MIN_LONG || n > MAX_LONG) throw new Error(`invalid "long": ${String(n)}`)
  writeBigLong(tap, n)
}

/** avsc's custom long through its 8-byte hook: correct, slow, and the fallback of the type below. */
function customLong(): avro.Type {
  return avro.types.LongType.__with({
    fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
    toBuffer: (n: bigint) => {
      const buf = Buffer.alloc(8)
      buf.writeBigInt64LE(BigInt(n))
      return buf
    },
    fromJSON: (v: number | string | bigint) => BigInt(v),
    toJSON: (n: bigint) => Number(n),
    isValid: (n: unknown) => typeof n === 'bigint',
    compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
  })
}

// avsc freezes its types: the varint reader and writer go on an object inheriting from the custom
// long, which stays the hook's fallback for everything else (JSON, comparison, validity).
function bigintLongWith(read: Read, write: Write): avro.Type {
  return Object.create(customLong(), { _read: { value: read }, _write: { value: write } }) as avro.Type
}

const isLong = (schema: avro.Schema): boolean =>
  schema === 'long' || (typeof schema === 'object' && (schema as { type?: unknown }).type === 'long')
const hookFor = (type: avro.Type) => (schema: avro.Schema): avro.Type | undefined => (isLong(schema) ? type : undefined)

// The probe: long fields plain, with a logical type and in a union, between other fields, at
// the edges of the range.
const PROBE_SCHEMA = {
  type: 'record',
  name: 'AvscCompatProbe',
  fields: [
    { name: 'before', type: 'string' },
    { name: 'max', type: 'long' },
    { name: 'nanos', type: { type: 'long', logicalType: 'timestamp-nanos' } },
    { name: 'maybe', type: ['null', 'long'], default: null },
    { name: 'after', type: 'int' },
  ],
} as const
const PROBE_LONGS = 3
const PROBE_VALUE = { before: 'x', max: MAX_LONG, nanos: MIN_LONG, maybe: 1_763_899_200_123_456_789n, after: 7 }

function mechanismProblems(): string[] {
  const problems: string[] = []
  let reads = 0
  let writes = 0
  const probe = bigintLongWith(
    (tap) => {
      reads += 1
      return readBigLong(tap)
    },
    (tap, n) => {
      writes += 1
      writeCheckedLong(tap, n)
    },
  )
  const type = avro.Type.forSchema(PROBE_SCHEMA as unknown as avro.Schema, { typeHook: hookFor(probe) })
  const reference = avro.Type.forSchema(PROBE_SCHEMA as unknown as avro.Schema, { typeHook: hookFor(customLong()) })

  const bytes = type.toBuffer(PROBE_VALUE)
  const expected = reference.toBuffer(PROBE_VALUE)
  if (writes !== PROBE_LONGS) problems.push(`a record writer called the long type's _write ${writes} times for ${PROBE_LONGS} longs`)
  if (!bytes.equals(expected)) problems.push(`a record with longs is written as ${bytes.toString('hex')}, avsc writes ${expected.toString('hex')}`)

  const decoded = type.fromBuffer(bytes) as Record<string, unknown>
  if (reads !== PROBE_LONGS) problems.push(`a record reader called the long type's _read ${reads} times for ${PROBE_LONGS} longs`)
  for (const [field, v] of Object.entries(PROBE_VALUE)) {
    if (decoded[field] !== v) problems.push(`field ${field} reads back as ${String(decoded[field])}, not ${String(v)}`)
  }

  // Records written under another (compatible) schema are read through a resolver.
  reads = 0
  const writer = avro.Type.forSchema({ ...PROBE_SCHEMA, fields: [...PROBE_SCHEMA.fields, { name: 'extra', type: 'long' }] } as unknown as avro.Schema, {
    typeHook: hookFor(customLong()),
  })
  const resolved = type.fromBuffer(writer.toBuffer({ ...PROBE_VALUE, extra: 5n }), type.createResolver(writer)) as Record<string, unknown>
  if (reads !== PROBE_LONGS) problems.push(`a resolver called the long type's _read ${reads} times for ${PROBE_LONGS} longs`)
  if (resolved.max !== MAX_LONG) problems.push(`a resolved record reads back max as ${String(resolved.max)}`)
  return problems
}

function inspect(): { root: string; problems: string[] } {
  const require = createRequire(import.meta.url)
  let root = '(not found)'
  const problems: string[] = []
  try {
    root = dirname(require.resolve('avsc/package.json'))
    const { version } = require('avsc/package.json') as { version?: string }
    if (version !== AVSC_VERSION) problems.push(`avsc ${String(version)} is installed, Sluice pins ${AVSC_VERSION}`)
    // The registry client builds the writer's types with its own avsc: it must be this one.
    const registryAvsc = createRequire(require.resolve('@kafkajs/confluent-schema-registry')).resolve('avsc')
    if (registryAvsc !== require.resolve('avsc')) problems.push(`@kafkajs/confluent-schema-registry loads another avsc (${registryAvsc})`)
  } catch (err) {
    problems.push(`avsc cannot be resolved: ${errorMessage(err)}`)
  }
  try {
    problems.push(...mechanismProblems())
  } catch (err) {
    problems.push(`the bigint long cannot be built or used: ${errorMessage(err)}`)
  }
  return { root, problems }
}

/** Every way the running avsc fails the bigint long; empty when it does not. */
export function avscCompatProblems(): string[] {
  return inspect().problems
}

let typeHook: avro.ForSchemaOptions['typeHook'] | undefined

/**
 * avsc options under which every `long` is a bigint, read and written by the varint code here
 * (a new object per call: avsc keeps its registry of named types in it). The first call checks
 * avsc (see above) and throws, listing every problem, if it fails.
 */
export function avscTypeOptions(): Partial<avro.ForSchemaOptions> {
  if (!typeHook) {
    const { root, problems } = inspect()
    if (problems.length > 0) {
      throw new SluiceError(
        'CONFIG_INVALID',
        `avsc at ${root} cannot carry Sluice's bigint longs:\n  - ${problems.join('\n  - ')}\n` +
          `Run \`npm ci\` at the repository root (avsc is pinned to ${AVSC_VERSION}); if avsc was upgraded on purpose, ` +
          're-check libs/registry/src/avsc-compat.ts against its lib/types.js (LongType, AbstractLongType, RecordType).',
      )
    }
    typeHook = hookFor(bigintLongWith(readBigLong, writeCheckedLong))
  }
  return { typeHook }
}
