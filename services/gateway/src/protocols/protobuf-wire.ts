// Protocol Buffers' wire format, read by hand straight from a request body: what the OTLP reader
// (otlp-protobuf.ts) and the Loki push reader (loki-protobuf.ts) walk their messages with. A
// generic decoder (protobufjs) builds an object per message, a Long per 64-bit field and a string
// per string field before anything is mapped, and checks UTF-8 in JS; reading offsets in place lets
// a reader go from bytes to a Sluice record with nothing in between, and decode only what it keeps.
//
//   message     (tag value)*            fields in any order; any of them may repeat
//   tag         varint                  field_number << 3 | wire_type, at most 32 bits; number ≥ 1
//   varint      1–10 bytes              7 bits each, least significant group first, high bit = more
//   wire type   0 varint                int32, int64, uint32, bool, enum
//               1 64-bit                8 bytes little-endian: fixed64, double
//               2 length-delimited      varint length (< 2^31), then that many bytes: string,
//                                       bytes, an embedded message, a packed repeated field
//               3, 4 group start, end   proto2's groups: only skipped, nested up to MAX_GROUP_DEPTH
//               5 32-bit                4 bytes little-endian: fixed32, float
//
// Every read is bounded by `end`, the end of the message being read, so a length that runs past
// its message is caught where it is written. The faults are WireError, named as protobufjs names
// them ("index out of range: …"), turned into a field's fault by the message reader. What the
// fields mean (which wire type a field must have, what a fault costs) is the message reader's.
import { isUtf8 } from 'node:buffer'

export const WIRE = { VARINT: 0, I64: 1, LEN: 2, GROUP_START: 3, GROUP_END: 4, I32: 5 } as const

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit']

export const wireName = (wireType: number): string => WIRE_NAMES[wireType] ?? String(wireType)

/** How deep unknown groups may nest inside each other (protobufjs' default recursion limit). */
const MAX_GROUP_DEPTH = 100

/** Strings up to this long are looked at byte by byte first (see WireReader.utf8). */
const SHORT_BYTES = 48

/** Keys (attribute keys, metadata names) seen lately, by a hash of their bytes: 2^KEY_SLOT_BITS, each of SHORT_BYTES at most. */
const KEY_SLOT_BITS = 10
const KEYS = new Array<string | undefined>(1 << KEY_SLOT_BITS)

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = -MAX_SAFE

/** The bytes at the reader's position are not protobuf. */
export class WireError extends Error {}

export class WireReader {
  pos = 0
  // The message strings are being read from (see within and utf8), and its latin1 text once needed.
  #textStart = 0
  #textEnd = 0
  #text: string | undefined

  constructor(readonly buf: Buffer) {}

  #outOfRange(bytes: number, end: number): WireError {
    return new WireError(`index out of range: ${this.pos} + ${bytes} > ${end}`)
  }

  /** A tag (field number and wire type); not a group end or an invalid wire type. */
  tag(end: number): number {
    const at = this.pos
    const tag = this.#tag(end)
    const wire = tag & 7
    if (wire === WIRE.GROUP_END || wire > WIRE.I32) throw new WireError(`invalid wire type ${wire} at offset ${at}`)
    return tag
  }

  #tag(end: number): number {
    const buf = this.buf
    let pos = this.pos
    if (pos >= end) throw this.#outOfRange(1, end)
    let b = buf[pos++]!
    if (b < 0x80) {
      this.pos = pos
      return b
    }
    let value = b & 0x7f
    for (let shift = 7; shift < 28; shift += 7) {
      if (pos >= end) throw this.#outOfRange(1, end)
      b = buf[pos++]!
      value |= (b & 0x7f) << shift
      if (b < 0x80) {
        this.pos = pos
        return value >>> 0
      }
    }
    if (pos >= end) throw this.#outOfRange(1, end)
    b = buf[pos++]!
    this.pos = pos
    if (b > 0x0f) throw new WireError('invalid tag encoding')
    return (value | (b << 28)) >>> 0
  }

  /** A length prefix; returns where the value it announces ends, within `end`. */
  lengthEnd(end: number): number {
    const buf = this.buf
    let pos = this.pos
    let value = 0
    for (let shift = 0; ; shift += 7) {
      if (pos >= end) throw this.#outOfRange(1, end)
      const b = buf[pos++]!
      if (shift === 28) {
        if (b > 7) throw new WireError('invalid length encoding')
        value += b * 2 ** 28
        break
      }
      value |= (b & 0x7f) << shift
      if (b < 0x80) break
    }
    this.pos = pos
    if (pos + value > end) throw this.#outOfRange(value, end)
    return pos + value
  }

  /** A varint's low 32 bits as an int32 (what int32 and enum fields keep of it). */
  int32(end: number): number {
    const buf = this.buf
    let pos = this.pos
    let value = 0
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw this.#outOfRange(1, end)
      const b = buf[pos++]!
      if (i < 5) value |= (b & 0x7f) << (7 * i)
      if (b < 0x80) {
        this.pos = pos
        return value
      }
    }
    throw new WireError('invalid varint encoding')
  }

  /** A varint as a signed 64-bit integer (int64), two's complement. */
  int64(end: number): bigint {
    const buf = this.buf
    let pos = this.pos
    let lo = 0
    let hi = 0
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw this.#outOfRange(1, end)
      const b = buf[pos++]!
      const bits = b & 0x7f
      if (i < 4) lo |= bits << (7 * i)
      else if (i === 4) {
        lo |= bits << 28 // its low 4 bits; the other 3 start the high word
        hi = bits >>> 4
      } else hi |= bits << (7 * i - 32)
      if (b < 0x80) {
        this.pos = pos
        return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0))
      }
    }
    throw new WireError('invalid varint encoding')
  }

  /**
   * int64() as a number when it is a safe integer (seconds, counts: nearly always), so that no
   * BigInt is made for it; a bigint otherwise.
   */
  int64Number(end: number): number | bigint {
    const buf = this.buf
    let pos = this.pos
    let value = 0
    let scale = 1
    // Up to 7 groups (49 bits) add up exactly in a double; a longer varint is read as a BigInt.
    for (let i = 0; i < 7; i++) {
      if (pos >= end) throw this.#outOfRange(1, end)
      const b = buf[pos++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        this.pos = pos
        return value
      }
      scale *= 128
    }
    const v = this.int64(end)
    return v >= MIN_SAFE && v <= MAX_SAFE ? Number(v) : v
  }

  /** A varint as a bool: any bit set is true. */
  bool(end: number): boolean {
    const buf = this.buf
    let pos = this.pos
    let value = false
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw this.#outOfRange(1, end)
      const b = buf[pos++]!
      if ((b & 0x7f) !== 0) value = true
      if (b < 0x80) {
        this.pos = pos
        return value
      }
    }
    throw new WireError('invalid varint encoding')
  }

  fixed64(end: number): bigint {
    if (this.pos + 8 > end) throw this.#outOfRange(8, end)
    const v = this.buf.readBigUInt64LE(this.pos)
    this.pos += 8
    return v
  }

  double(end: number): number {
    if (this.pos + 8 > end) throw this.#outOfRange(8, end)
    const v = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return v
  }

  /**
   * The UTF-8 text of bytes `start`–`end`, or undefined when they are not UTF-8. Most strings in
   * a log record are short ASCII (values, levels): those are cut from the text of the message
   * they are in (see within), where a byte is a character — far cheaper than decoding each on its
   * own. Other strings are decoded; the decoder replaces every invalid sequence with U+FFFD, so
   * only a string containing one (rare: it may as well have been sent) needs its bytes checked.
   */
  utf8(start: number, end: number): string | undefined {
    if (end - start <= SHORT_BYTES && start >= this.#textStart && end <= this.#textEnd) {
      const buf = this.buf
      let i = start
      while (i < end && buf[i]! < 0x80) i++
      if (i === end) {
        this.#text ??= buf.toString('latin1', this.#textStart, this.#textEnd)
        return this.#text.slice(start - this.#textStart, end - this.#textStart)
      }
    }
    const s = this.buf.toString('utf8', start, end)
    return s.includes('\uFFFD') && !isUtf8(this.buf.subarray(start, end)) ? undefined : s
  }

  /** The strings read next are in bytes `start`–`end` (a LogRecord, a Resource, a Loki stream): see utf8. */
  within(start: number, end: number): void {
    this.#textStart = start
    this.#textEnd = end
    this.#text = undefined
  }

  /**
   * utf8(start, end) for a string that recurs across records and requests, a key: the
   * same string each time, from a small cache (KEYS) checked byte by byte. Object keys are
   * interned by V8 (looked up in its string table) when first stored; one already interned makes
   * writing an attribute several times cheaper. Its slot is chosen by the length and three of the
   * bytes, so that a hit costs one pass over the bytes (the comparison, which also finds them
   * ASCII); keys that share a slot take turns in it.
   */
  key(start: number, end: number): string | undefined {
    const length = end - start
    if (length > SHORT_BYTES || length === 0) return this.utf8(start, end)
    const buf = this.buf
    const hash = Math.imul(length ^ (buf[start]! << 8) ^ (buf[start + (length >> 1)]! << 16) ^ (buf[end - 1]! << 24), 0x9e3779b1)
    const slot = hash >>> (32 - KEY_SLOT_BITS)
    const cached = KEYS[slot]
    if (cached !== undefined && cached.length === length) {
      let i = 0
      while (i < length && cached.charCodeAt(i) === buf[start + i]) i++
      if (i === length) return cached
    }
    for (let i = start; i < end; i++) if (buf[i]! >= 0x80) return this.utf8(start, end)
    // A copy: a slice would keep the whole body it was cut from alive in the cache.
    return (KEYS[slot] = buf.toString('latin1', start, end))
  }

  /** Skips the value of a field with `tag` (one not read, or unknown). */
  skip(tag: number, end: number): void {
    if (tag >>> 3 === 0) throw new WireError('illegal tag: field number 0')
    switch (tag & 7) {
      case WIRE.VARINT:
        this.int32(end)
        return
      case WIRE.I64:
        this.#advance(8, end)
        return
      case WIRE.LEN:
        this.pos = this.lengthEnd(end)
        return
      case WIRE.I32:
        this.#advance(4, end)
        return
      case WIRE.GROUP_START:
        this.#skipGroup(tag >>> 3, end)
        return
      default:
        throw new WireError(`invalid wire type ${tag & 7} at offset ${this.pos}`)
    }
  }

  /** Up to the end of the group `field` opened, the groups inside it too (without recursion). */
  #skipGroup(field: number, end: number): void {
    const open = [field]
    while (open.length > 0) {
      const tag = this.#tag(end)
      if (tag >>> 3 === 0) throw new WireError('illegal tag: field number 0')
      if ((tag & 7) === WIRE.GROUP_END) {
        if (open.pop() !== tag >>> 3) throw new WireError('invalid end group tag')
      } else if ((tag & 7) === WIRE.GROUP_START) {
        if (open.length >= MAX_GROUP_DEPTH) throw new WireError('max depth exceeded')
        open.push(tag >>> 3)
      } else this.skip(tag, end)
    }
  }

  #advance(bytes: number, end: number): void {
    if (this.pos + bytes > end) throw this.#outOfRange(bytes, end)
    this.pos += bytes
  }
}
