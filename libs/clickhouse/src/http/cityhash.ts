// CityHash128 as ClickHouse uses it: Google's CityHash v1.0.2, which ClickHouse froze because the
// checksum of every compressed block on disk and on the wire depends on it (later CityHash versions
// hash differently). Only the 128-bit variant without a seed is needed: the checksum of a block of
// ClickHouse's compressed framing (compressed.ts). Arithmetic is on BigInt wrapped to 64 bits.
const M64 = (1n << 64n) - 1n
const k0 = 0xc3a5c85c97cb3127n
const k1 = 0xb492b66fbe98f273n
const k2 = 0x9ae16a3b2f90404fn
const k3 = 0xc949d7c7509e6557n
const kMul = 0x9ddfea08eb382d69n

const add = (a: bigint, b: bigint) => (a + b) & M64
const mul = (a: bigint, b: bigint) => (a * b) & M64
const rotate = (v: bigint, shift: bigint) => (shift === 0n ? v : ((v >> shift) | (v << (64n - shift))) & M64)
const shiftMix = (v: bigint) => v ^ (v >> 47n)

function hashLen16(u: bigint, v: bigint): bigint {
  let a = mul(u ^ v, kMul)
  a ^= a >> 47n
  let b = mul(v ^ a, kMul)
  b ^= b >> 47n
  return mul(b, kMul)
}

class Input {
  readonly #view: DataView
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }
  fetch64(pos: number): bigint {
    return this.#view.getBigUint64(pos, true)
  }
  fetch32(pos: number): bigint {
    return BigInt(this.#view.getUint32(pos, true))
  }
}

function hashLen0to16(s: Input, pos: number, len: number): bigint {
  if (len > 8) {
    const a = s.fetch64(pos)
    const b = s.fetch64(pos + len - 8)
    // RotateByAtLeast1: len is in 9..16 here, never 0.
    return hashLen16(a, rotate(add(b, BigInt(len)), BigInt(len))) ^ b
  }
  if (len >= 4) {
    const a = s.fetch32(pos)
    return hashLen16(add(a << 3n, BigInt(len)), s.fetch32(pos + len - 4))
  }
  if (len > 0) {
    const a = BigInt(s.bytes[pos]!)
    const b = BigInt(s.bytes[pos + (len >>> 1)]!)
    const c = BigInt(s.bytes[pos + len - 1]!)
    const y = a + (b << 8n)
    const z = BigInt(len) + (c << 2n)
    return mul(shiftMix(mul(y, k2) ^ mul(z, k3)), k2)
  }
  return k2
}

function weakHashLen32WithSeeds(s: Input, pos: number, a: bigint, b: bigint): [bigint, bigint] {
  const w = s.fetch64(pos)
  const x = s.fetch64(pos + 8)
  const y = s.fetch64(pos + 16)
  const z = s.fetch64(pos + 24)
  a = add(a, w)
  b = rotate(add(add(b, a), z), 21n)
  const c = a
  a = add(add(a, x), y)
  b = add(b, rotate(a, 44n))
  return [add(a, z), add(b, c)]
}

function cityMurmur(s: Input, pos: number, len: number, seed0: bigint, seed1: bigint): [bigint, bigint] {
  let a = seed0
  let b = seed1
  let c: bigint
  let d: bigint
  let l = len - 16
  if (l <= 0) {
    a = mul(shiftMix(mul(a, k1)), k1)
    c = add(mul(b, k1), hashLen0to16(s, pos, len))
    d = shiftMix(add(a, len >= 8 ? s.fetch64(pos) : c))
  } else {
    c = hashLen16(add(s.fetch64(pos + len - 8), k1), a)
    d = hashLen16(add(b, BigInt(len)), add(c, s.fetch64(pos + len - 16)))
    a = add(a, d)
    do {
      a ^= mul(shiftMix(mul(s.fetch64(pos), k1)), k1)
      a = mul(a, k1)
      b ^= a
      c ^= mul(shiftMix(mul(s.fetch64(pos + 8), k1)), k1)
      c = mul(c, k1)
      d ^= c
      pos += 16
      l -= 16
    } while (l > 0)
  }
  a = hashLen16(a, c)
  b = hashLen16(d, b)
  return [a ^ b, hashLen16(b, a)]
}

function cityHash128WithSeed(s: Input, pos: number, len: number, seed0: bigint, seed1: bigint): [bigint, bigint] {
  if (len < 128) return cityMurmur(s, pos, len, seed0, seed1)
  let x = seed0
  let y = seed1
  let z = mul(BigInt(len), k1)
  let v0 = add(mul(rotate(y ^ k1, 49n), k1), s.fetch64(pos))
  let v1 = add(mul(rotate(v0, 42n), k1), s.fetch64(pos + 8))
  let w0 = add(mul(rotate(add(y, z), 35n), k1), x)
  let w1 = mul(rotate(add(x, s.fetch64(pos + 88)), 53n), k1)
  // The same inner loop as CityHash64, unrolled twice.
  do {
    for (let half = 0; half < 2; half++) {
      x = mul(rotate(add(add(add(x, y), v0), s.fetch64(pos + 16)), 37n), k1)
      y = mul(rotate(add(add(y, v1), s.fetch64(pos + 48)), 42n), k1)
      x ^= w1
      y ^= v0
      z = rotate(z ^ w0, 33n)
      ;[v0, v1] = weakHashLen32WithSeeds(s, pos, mul(v1, k1), add(x, w0))
      ;[w0, w1] = weakHashLen32WithSeeds(s, pos + 32, add(z, w1), y)
      ;[z, x] = [x, z]
      pos += 64
    }
    len -= 128
  } while (len >= 128)
  y = add(y, add(mul(rotate(w0, 37n), k0), z))
  x = add(x, mul(rotate(add(v0, z), 49n), k0))
  // Up to four 32-byte chunks from the end of the input (v1.0.2's order of operations).
  for (let tailDone = 0; tailDone < len; ) {
    tailDone += 32
    y = add(mul(rotate((y - x) & M64, 42n), k0), v1)
    w0 = add(w0, s.fetch64(pos + len - tailDone + 16))
    x = add(mul(rotate(x, 49n), k0), w0)
    w0 = add(w0, v0)
    ;[v0, v1] = weakHashLen32WithSeeds(s, pos + len - tailDone, v0, v1)
  }
  x = hashLen16(x, v0)
  y = hashLen16(y, w0)
  return [add(hashLen16(add(x, v1), w1), y), hashLen16(add(x, w1), add(y, v1))]
}

/** CityHash128 (v1.0.2) of `bytes`: the low and high 64-bit halves, as ClickHouse writes them (low first). */
export function cityHash128(bytes: Uint8Array): [bigint, bigint] {
  const s = new Input(bytes)
  const len = bytes.length
  if (len >= 16) return cityHash128WithSeed(s, 16, len - 16, s.fetch64(0) ^ k3, s.fetch64(8))
  if (len >= 8) return cityHash128WithSeed(new Input(new Uint8Array(0)), 0, 0, s.fetch64(0) ^ mul(BigInt(len), k0), s.fetch64(len - 8) ^ k1)
  return cityHash128WithSeed(s, 0, len, k0, k1)
}
