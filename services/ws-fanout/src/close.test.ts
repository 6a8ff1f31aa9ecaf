import { describe, expect, it } from 'vitest'
import { CLOSE_REASON_MAX_BYTES, CLOSE_TENANT_LIMIT, closeWith } from './close.js'

describe('closeWith', () => {
  it('cuts a reason to the 123 bytes a close frame carries, on a character boundary', () => {
    const closes: Array<[number, string]> = []
    const socket = { close: (code: number, reason: string) => void closes.push([code, reason]) }
    closeWith(socket, CLOSE_TENANT_LIMIT, 'retry later')
    // A tenant name of 64 characters made this reason 126 bytes, and ws threw a RangeError.
    closeWith(socket, CLOSE_TENANT_LIMIT, `tenant ${'é'.repeat(64)} has 1 live connections (ws_max_connections); retry later`)
    expect(closes[0]).toEqual([4029, 'retry later'])
    const [code, reason] = closes[1]!
    expect(code).toBe(4029)
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(CLOSE_REASON_MAX_BYTES)
    expect(reason).toMatch(/^tenant é+…$/)
  })
})
