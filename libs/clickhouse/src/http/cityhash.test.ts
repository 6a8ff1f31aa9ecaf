import { describe, expect, it } from 'vitest'
import { cityHash128 } from './cityhash.js'
import { MAX_BLOCK_BYTES, compressedBlocks, lz4LiteralBlock } from './compressed.js'

// Compressed blocks ClickHouse 26.7 (chdb) wrote into MergeTree column files (CODEC(LZ4)): the
// checksum it stored, and the 9 header bytes + LZ4 data it covers. They exercise the three code
// paths of CityHash128: under 16 bytes, under 128 + 16, and the 128-byte loop with a tail.
const CLICKHOUSE_BLOCKS = [
  { checksum: '607b5b8eabf9a065e092e6ac8c8e8027', block: 'ggsAAAABAAAAEHg=' },
  {
    checksum: 'bcd79f0559b3132b1587370fa0aec0aa',
    block: 'gosAAAAEAQAAg1NsdWljZSAwCAATMQgAEzIIABMzCAATNAgAEzUIABM2CAATNwgAEzgIABM5CAAVMVEABFIAFDFTABQxVAAUMVUAFDFWABQxVwAUMVgAFDFZABQxWgAUMloAFDJaABQyWgAUMloAFDJaABQyWgAUMloAFDJaALAyOFNsdWljZSAyOQ==',
  },
  {
    checksum: '249cd6d41c6cbaeba9098145f8f73d02',
    block:
      'glsBAABWAQAA8B4wNzkxOTE1ODM4MjM3NTczMTY3NjM5NTk1NDc1MTQ1NTQzMzYzMzUyNzEyNzEsAPEmMDg3MTA5OTUwMjgxMDI5NDcxMTA4NjYxMTg3ODUxMjY3MDQxMzQ2MjMxNDI1NDIxNTA0NjFhAPEoMDE2NjI5OTE3NDIxODE4MjEzNzE5MDA1NjE5Nzk3NTIwNTg5NDIxMzgxMzIyMTczMjIyOTY1MZgA8SgwMjQ1NDg5MjUzNDA4MjYxMzI3MjY5MjQ2Mjc3MTY1Mjg1MDg0MjkzMDAzMzAwOTIyMzA4ODQxzwDwHDAzMjQ2NzkzMzI1OTgzNDA1MTczNDg0MzYzNTYzNTUzNjQyNzQzNzIxOTOlAIExMjM4ODAzMQYBsDA0MDM4Njk0MTE3UADwGTk3MDc0Mjc2MjY0MzU1NDU0NDM0NjQ0NTEzODM0NTkzMDI0NjcyMjE=',
  },
]

const checksumHex = ([low, high]: [bigint, bigint]) => {
  const b = Buffer.alloc(16)
  b.writeBigUInt64LE(low, 0)
  b.writeBigUInt64LE(high, 8)
  return b.toString('hex')
}

/** LZ4 block decoding, enough for what the JDBC driver's decoder does with our blocks. */
function lz4Decode(src: Uint8Array): Buffer {
  const out: number[] = []
  let p = 0
  while (p < src.length) {
    const token = src[p++]!
    let literals = token >> 4
    if (literals === 15) for (let b = 255; b === 255; literals += b) b = src[p++]!
    for (let i = 0; i < literals; i++) out.push(src[p++]!)
    if (p >= src.length) break
    const offset = src[p]! | (src[p + 1]! << 8)
    p += 2
    let match = (token & 15) + 4
    if ((token & 15) === 15) for (let b = 255; b === 255; match += b) b = src[p++]!
    for (let i = 0; i < match; i++) out.push(out[out.length - offset]!)
  }
  return Buffer.from(out)
}

describe('CityHash128 (v1.0.2, as ClickHouse checksums blocks)', () => {
  for (const { checksum, block } of CLICKHOUSE_BLOCKS) {
    it(`matches ClickHouse's checksum of a ${Buffer.from(block, 'base64').length}-byte block`, () => {
      expect(checksumHex(cityHash128(Buffer.from(block, 'base64')))).toBe(checksum)
    })
  }
})

describe('ClickHouse compressed framing', () => {
  it('frames data as checksummed LZ4 blocks of at most 1 MiB that decode to the data', () => {
    const data = Buffer.alloc(MAX_BLOCK_BYTES + 1000)
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251
    const blocks = compressedBlocks(data)
    expect(blocks).toHaveLength(2)
    const decoded: Buffer[] = []
    for (const block of blocks) {
      expect(block[16]).toBe(0x82)
      const compressedSize = block.readUInt32LE(17)
      expect(block.length).toBe(16 + compressedSize)
      expect(checksumHex(cityHash128(block.subarray(16)))).toBe(block.subarray(0, 16).toString('hex'))
      const out = lz4Decode(block.subarray(25))
      expect(out.length).toBe(block.readUInt32LE(21))
      decoded.push(out)
    }
    expect(Buffer.concat(decoded).equals(data)).toBe(true)
    expect(compressedBlocks(Buffer.alloc(0))).toEqual([])
  })

  it('writes literal lengths with LZ4 continuation bytes at 15, 270 and 525', () => {
    for (const n of [0, 1, 14, 15, 16, 269, 270, 271, 524, 525, 100_000]) {
      const data = Buffer.alloc(n, 0x61)
      expect(lz4Decode(lz4LiteralBlock(data)).equals(data)).toBe(true)
    }
  })
})
