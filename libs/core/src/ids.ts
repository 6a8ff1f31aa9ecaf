// Time-ordered record ids: UUIDv7 (RFC 9562) — 48-bit Unix ms, version 7, 12-bit counter that
// keeps ids monotonic within one millisecond (RFC 9562 §6.2 method 1), variant 10, 62 random bits.
// Hand-rolled rather than the `uuid` package because that draws 16 bytes from the OS per id
// (getRandomValues), a third of the gateway's validation time; here randomness comes from a pool.
import { randomFillSync } from 'node:crypto'

const POOL_IDS = 512
const pool = Buffer.allocUnsafe(16 * POOL_IDS)
let poolOffset = pool.length
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

let lastMs = -1
let counter = 0
/** "tttttttt-tttt-7" of the millisecond last formatted: a request's ids share it. */
let prefixMs = -1
let prefix = ''

export function uuidv7(nowMs: number = Date.now()): string {
  if (poolOffset >= pool.length) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const r = poolOffset
  poolOffset += 16
  let ms = nowMs
  if (ms > lastMs) {
    lastMs = ms
    counter = pool[r]! & 0x7ff // random start, leaving headroom before the 12 bits overflow
  } else {
    ms = lastMs
    counter++
    if (counter > 0xfff) {
      lastMs = ++ms
      counter = 0
    }
  }
  if (ms !== prefixMs) {
    const t = ms.toString(16).padStart(12, '0')
    prefix = `${t.slice(0, 8)}-${t.slice(8, 12)}-7`
    prefixMs = ms
  }
  return (
    `${prefix}${HEX[counter >> 8]!.slice(1)}${HEX[counter & 0xff]}-` +
    `${HEX[0x80 | (pool[r + 1]! & 0x3f)]}${HEX[pool[r + 2]!]}-` +
    `${HEX[pool[r + 3]!]}${HEX[pool[r + 4]!]}${HEX[pool[r + 5]!]}${HEX[pool[r + 6]!]}${HEX[pool[r + 7]!]}${HEX[pool[r + 8]!]}`
  )
}
