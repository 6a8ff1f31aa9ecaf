// ClickHouse's own compressed framing, which the server sends when a request carries `compress=1`
// (the ClickHouse JDBC driver asks for it by default, and checks every block's checksum):
//
//   16 bytes  CityHash128 (v1.0.2) of the 9 header bytes and the data that follow: low 64 bits, then high, LE
//    1 byte   method: 0x82 = LZ4
//    4 bytes  compressed size, the 9 header bytes included (UInt32 LE)
//    4 bytes  uncompressed size (UInt32 LE)
//    …        one LZ4 block (https://github.com/lz4/lz4/blob/dev/doc/lz4_Block_format.md)
//
// The LZ4 block is written as a single run of literals: a valid block that any LZ4 decoder
// expands, without spending the Sluice process's CPU on matching (the data goes to an analyst's
// client, typically over a local network). Blocks hold at most 1 MiB, ClickHouse's
// max_compress_block_size.
import { cityHash128 } from './cityhash.js'

const METHOD_LZ4 = 0x82
const HEADER_BYTES = 9
const CHECKSUM_BYTES = 16
export const MAX_BLOCK_BYTES = 1 << 20

/** An LZ4 block holding `data` as literals only: token, length continuation bytes, the bytes. */
export function lz4LiteralBlock(data: Uint8Array): Buffer {
  const n = data.length
  const extra = n >= 15 ? Math.floor((n - 15) / 255) + 1 : 0
  const out = Buffer.allocUnsafe(1 + extra + n)
  out[0] = Math.min(n, 15) << 4
  let p = 1
  if (n >= 15) {
    let rest = n - 15
    while (rest >= 255) {
      out[p++] = 255
      rest -= 255
    }
    out[p++] = rest
  }
  out.set(data, p)
  return out
}

/** `data` as ClickHouse compressed blocks (none for empty data). */
export function compressedBlocks(data: Uint8Array): Buffer[] {
  const blocks: Buffer[] = []
  for (let start = 0; start < data.length; start += MAX_BLOCK_BYTES) {
    const part = data.subarray(start, Math.min(data.length, start + MAX_BLOCK_BYTES))
    const lz4 = lz4LiteralBlock(part)
    const block = Buffer.allocUnsafe(CHECKSUM_BYTES + HEADER_BYTES + lz4.length)
    block[CHECKSUM_BYTES] = METHOD_LZ4
    block.writeUInt32LE(HEADER_BYTES + lz4.length, CHECKSUM_BYTES + 1)
    block.writeUInt32LE(part.length, CHECKSUM_BYTES + 5)
    lz4.copy(block, CHECKSUM_BYTES + HEADER_BYTES)
    const [low, high] = cityHash128(block.subarray(CHECKSUM_BYTES))
    block.writeBigUInt64LE(low, 0)
    block.writeBigUInt64LE(high, 8)
    blocks.push(block)
  }
  return blocks
}
