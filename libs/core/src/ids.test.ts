import { describe, expect, it } from 'vitest'
import { uuidv7 } from './ids.js'

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('uuidv7', () => {
  it('has the RFC 9562 version and variant bits and carries the millisecond timestamp', () => {
    const id = uuidv7(1_763_899_200_123)
    expect(id).toMatch(UUID_V7)
    expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(1_763_899_200_123)
  })

  it('is unique and strictly increasing, also within one millisecond', () => {
    const ids = Array.from({ length: 10_000 }, () => uuidv7(1_763_899_300_000))
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
    expect(ids.every((id) => UUID_V7.test(id))).toBe(true)
  })

  it('never goes backwards when the clock does', () => {
    const a = uuidv7(1_763_899_400_000)
    const b = uuidv7(1_763_899_399_000)
    expect(b > a).toBe(true)
  })
})
