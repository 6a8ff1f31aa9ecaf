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
//
// Strings: records repeat their short strings (tenant, service, level, attribute names and most
// of their values), and avsc makes each one anew with a native call per string (Tap's
// readString), whose result, as an object's key, V8 then looks up in its string table again.
// readShortString (installed on avsc's Tap by the same first call) keeps the strings of up to
// STRING_CACHE_MAX_BYTES bytes in a direct-mapped cache, a slot per hash of their bytes, and
// answers a string whose bytes equal a cached one's character codes (ASCII only) with it: the
// same string, made once. The check proves first that avsc's readers take record fields, map keys
// and map values through Tap.prototype.readString, and then that the installed reader is there.
//
// And writing them: avsc's Tap.writeString asks Node for a string's UTF-8 length first (a native
// call per string), then writes the length and the bytes. writeShortString (installed beside the
// reader) writes a string of under 64 characters that are all ASCII without it: its length is its
// character count, one varint byte, and each character one byte, as avsc would have written them;
// anything else (longer, non-ASCII, or not fitting the buffer) goes to avsc's own writer. The check
// proves that avsc's writers take record fields, map keys and map values through
// Tap.prototype.writeString, and that the bytes are avsc's own.
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

/** Node's Buffer method behind toString('utf8', …), without its argument checks, as avsc calls it. */
type Utf8Buffer = Buffer & { utf8Slice(start: number, end: number): string }

/** avsc's Tap as its string reader uses it (lib/utils.js). */
interface StringTap {
  buf: Utf8Buffer
  pos: number
  readLong(): number
  _invalidate(): void
}
type ReadString = (this: StringTap) => string | undefined
/** avsc's Tap as its string writer uses it. */
interface WriteTap {
  buf: Buffer
  pos: number
}
type WriteString = (this: WriteTap, s: string) => void
interface TapClass {
  prototype: { readString: ReadString; writeString: WriteString }
}
/** avsc's Tap class (not part of its API: checked with the rest, see above). */
const avscTap = (): TapClass => (createRequire(import.meta.url)('avsc/lib/utils.js') as { Tap: TapClass }).Tap

const STRING_CACHE_MAX_BYTES = 24
const STRING_SLOTS = 1024
const shortStrings: (string | undefined)[] = new Array<string | undefined>(STRING_SLOTS).fill(undefined)

/** avsc's readString, with short ASCII strings answered from a cache (see above); the same strings and validity. */
function readShortString(this: StringTap): string | undefined {
  const len = this.readLong()
  if (len < 0) {
    this._invalidate()
    return ''
  }
  const buf = this.buf
  const pos = this.pos
  const end = pos + len
  // Past the end: avsc's reader reports it by the position (isValid), the string is undefined.
  this.pos = end
  if (end > buf.length) return undefined
  if (len > STRING_CACHE_MAX_BYTES) return buf.utf8Slice(pos, end)
  let h = len
  for (let i = pos; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193)
  const slot = (h ^ (h >>> 15)) & (STRING_SLOTS - 1)
  const hit = shortStrings[slot]
  if (hit !== undefined && hit.length === len) {
    let i = 0
    while (i < len && hit.charCodeAt(i) === buf[pos + i]) i++
    if (i === len) return hit
  }
  const made = buf.utf8Slice(pos, end)
  // As many characters as bytes: ASCII (or bytes that are no UTF-8, each U+FFFD, which no byte
  // equals, so such a string is never answered from the cache).
  if (made.length === len) shortStrings[slot] = made
  return made
}
/** avsc's own Tap.writeString, which writeShortString hands what it does not write itself (set when it is installed). */
let avscWriteString: WriteString | undefined

/** avsc's writeString, with short ASCII strings written without asking for their UTF-8 length (see above); the same bytes. */
function writeShortString(this: WriteTap, s: string): void {
  const n = s.length
  const buf = this.buf
  const pos = this.pos
  // Under 64 characters the zig-zag length (2n) is one byte.
  if (n < 64 && pos + 1 + n <= buf.length) {
    let i = 0
    for (; i < n; i++) {
      const c = s.charCodeAt(i)
      if (c >= 0x80) break
      buf[pos + 1 + i] = c
    }
    if (i === n) {
      buf[pos] = n << 1
      this.pos = pos + 1 + n
      return
    }
  }
  // Bytes written past `pos` above are written over: avsc's writer starts again at `pos`.
  avscWriteString!.call(this, s)
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

// The string probe: a string field, a map's keys and values, a string in a union.
const STRING_PROBE_SCHEMA = {
  type: 'record',
  name: 'AvscCompatStrings',
  fields: [
    { name: 's', type: 'string' },
    { name: 'm', type: { type: 'map', values: 'string' } },
    { name: 'u', type: ['null', 'string'], default: null },
  ],
} as const
const STRING_PROBE_VALUE = { s: 'tenant', m: { 'http.method': 'GET', 'café': 'ü' }, u: 'x'.repeat(STRING_CACHE_MAX_BYTES + 1) }
const STRING_PROBE_READS = 6

function stringProblems(): string[] {
  const problems: string[] = []
  const tap = avscTap()
  if (typeof tap?.prototype?.readString !== 'function') return ['avsc/lib/utils.js has no Tap with a readString']
  if (typeof tap.prototype.writeString !== 'function') return ['avsc/lib/utils.js has no Tap with a writeString']
  if (typeof (Buffer.prototype as Partial<Utf8Buffer>).utf8Slice !== 'function') return ["this Node's Buffer has no utf8Slice"]
  const type = avro.Type.forSchema(STRING_PROBE_SCHEMA as unknown as avro.Schema)
  const own = avscWriteString ?? tap.prototype.writeString
  const installed = tap.prototype.writeString
  const ownBefore = avscWriteString
  let bytes: Buffer
  try {
    tap.prototype.writeString = own
    bytes = type.toBuffer(STRING_PROBE_VALUE)
    let writes = 0
    avscWriteString = own
    tap.prototype.writeString = function (this: WriteTap, s: string) {
      writes++
      writeShortString.call(this, s)
    }
    // The probe's strings, and ASCII around the one-byte length's end, in records written by the
    // short-string writer: avsc's bytes.
    const written = type.toBuffer(STRING_PROBE_VALUE)
    if (writes !== STRING_PROBE_READS) problems.push(`a record writer called Tap.writeString ${writes} times for ${STRING_PROBE_READS} strings`)
    if (!written.equals(bytes)) problems.push(`strings are written as ${written.toString('hex')}, avsc writes ${bytes.toString('hex')}`)
    for (const n of [0, 63, 64]) {
      const value = { s: 'a'.repeat(n), m: {}, u: null }
      const mine = type.toBuffer(value)
      tap.prototype.writeString = own
      const avscs = type.toBuffer(value)
      tap.prototype.writeString = writeShortString
      if (!mine.equals(avscs)) problems.push(`a string of ${n} ASCII characters is written as ${mine.toString('hex')}, avsc writes ${avscs.toString('hex')}`)
    }
  } finally {
    tap.prototype.writeString = installed
    avscWriteString = ownBefore
  }
  const before = tap.prototype.readString
  let reads = 0
  tap.prototype.readString = function (this: StringTap) {
    reads++
    return readShortString.call(this)
  }
  try {
    for (let round = 0; round < 2; round++) {
      reads = 0
      const decoded = type.fromBuffer(bytes) as typeof STRING_PROBE_VALUE
      if (reads !== STRING_PROBE_READS) problems.push(`a record reader called Tap.readString ${reads} times for ${STRING_PROBE_READS} strings`)
      if (JSON.stringify(decoded) !== JSON.stringify(STRING_PROBE_VALUE)) problems.push(`strings read back as ${JSON.stringify(decoded)}`)
    }
    // Cut short: avsc's reader must still see it (offset -1).
    if (type.decode(bytes.subarray(0, bytes.length - 3)).offset !== -1) problems.push('a record cut inside a string reads as whole')
  } finally {
    tap.prototype.readString = before
  }
  return problems
}

/** Whether avsc's Tap reads and writes strings with readShortString and writeShortString (installed by avscTypeOptions). */
export function shortStringsInstalled(): boolean {
  const tap = avscTap()
  return tap.prototype.readString === readShortString && tap.prototype.writeString === writeShortString
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
  try {
    problems.push(...stringProblems())
  } catch (err) {
    problems.push(`the short-string reader cannot be checked: ${errorMessage(err)}`)
  }
  return { root, problems }
}

/** Every way the running avsc fails the bigint long or the string reader; empty when it does not. */
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
          're-check libs/registry/src/avsc-compat.ts against its lib/types.js (LongType, AbstractLongType, RecordType, MapType) and lib/utils.js (Tap).',
      )
    }
    typeHook = hookFor(bigintLongWith(readBigLong, writeCheckedLong))
    const tap = avscTap()
    tap.prototype.readString = readShortString
    avscWriteString = tap.prototype.writeString
    tap.prototype.writeString = writeShortString
  }
  return { typeHook }
}
