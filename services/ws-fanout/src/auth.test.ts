import { describe, expect, it } from 'vitest'
import { mintToken, verifyToken } from './auth.js'

describe('stream tokens', () => {
  it('round-trip the tenant', () => {
    const t = mintToken('s3cret', 'acme', 60)
    expect(verifyToken('s3cret', t)).toMatchObject({ ok: true, payload: { tenant: 'acme' } })
  })

  it('reject a wrong secret, a tampered payload, expiry and garbage', () => {
    const t = mintToken('s3cret', 'acme', 60)
    expect(verifyToken('other', t)).toEqual({ ok: false, error: 'bad token signature' })
    const forged = `${Buffer.from(JSON.stringify({ tenant: 'evil', exp: 9e9 })).toString('base64url')}.${t.split('.')[1]}`
    expect(verifyToken('s3cret', forged)).toEqual({ ok: false, error: 'bad token signature' })
    expect(verifyToken('s3cret', mintToken('s3cret', 'acme', 60, Date.now() - 120_000))).toEqual({ ok: false, error: 'token expired' })
    expect(verifyToken('s3cret', 'nonsense')).toEqual({ ok: false, error: 'malformed token' })
  })
})
