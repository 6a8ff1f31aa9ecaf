// Byte strings packed into one transferable array, so a chunk of record values crosses to a
// worker thread by transfer rather than by copy (and its results come back the same way):
//   bytes   the strings' bytes
//   ends    string i ends at ends[i]
//   starts  string i starts at starts[i]; without it the strings lie back to back (starts at ends[i - 1] ?? 0)

export interface Packed {
  bytes: Uint8Array<ArrayBuffer>
  ends: Int32Array<ArrayBuffer>
  starts?: Int32Array<ArrayBuffer>
}

/** Where string i of a packed array starts. */
export const startOf = (p: Packed, i: number): number => p.starts?.[i] ?? (i === 0 ? 0 : p.ends[i - 1]!)

/** At most this share of a span copied whole may be bytes between the strings. */
const MAX_GAP_SHARE = 0.25

/**
 * Packs byte strings (null as empty) into one fresh, transferable byte array. Values read from
 * one fetch response lie in order in one buffer, a few bytes of record framing apart: such a run
 * is copied as one span (one copy instead of one per value), `starts` saying where each begins.
 */
export function pack(values: readonly (Uint8Array | null)[]): Packed {
  const span = spanOf(values)
  if (span) {
    const bytes = new Uint8Array(span.length)
    bytes.set(new Uint8Array(span.buffer, span.first, span.length))
    const starts = new Int32Array(values.length)
    const ends = new Int32Array(values.length)
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!
      starts[i] = v.byteOffset - span.first
      ends[i] = starts[i]! + v.length
    }
    return { bytes, ends, starts }
  }
  let total = 0
  for (const v of values) total += v?.length ?? 0
  const bytes = new Uint8Array(total)
  const ends = new Int32Array(values.length)
  let pos = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]
    if (v) {
      bytes.set(v, pos)
      pos += v.length
    }
    ends[i] = pos
  }
  return { bytes, ends }
}

/** The span covering `values` when they lie in order in one buffer with little between them. */
function spanOf(values: readonly (Uint8Array | null)[]): { buffer: ArrayBufferLike; first: number; length: number } | undefined {
  const head = values[0]
  if (!head || values.length < 2) return undefined
  let total = 0
  let end = head.byteOffset
  for (const v of values) {
    if (!v || v.buffer !== head.buffer || v.byteOffset < end) return undefined
    end = v.byteOffset + v.length
    total += v.length
  }
  const length = end - head.byteOffset
  return length - total <= total * MAX_GAP_SHARE ? { buffer: head.buffer, first: head.byteOffset, length } : undefined
}

/** Buffer views (no copies) of each packed byte string. */
export function unpack(p: Packed): Buffer[] {
  const out = new Array<Buffer>(p.ends.length)
  for (let i = 0; i < p.ends.length; i++) {
    const start = startOf(p, i)
    out[i] = Buffer.from(p.bytes.buffer, p.bytes.byteOffset + start, p.ends[i]! - start)
  }
  return out
}
