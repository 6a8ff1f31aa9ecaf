import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { KeyRing, parseKeysFile } from '@sluice/auth'
import { createKey } from './keys.js'

describe('sluice keys create', () => {
  it('makes a key whose hash, tenants and scopes land in the keys file, which then accepts it', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sluice-keys-')), 'keys.json')
    const a = createKey({ id: 'ci', tenants: ['acme'], scopes: ['ingest', 'query'], file })
    const b = createKey({ id: 'ops', tenants: ['*'], scopes: ['admin'], expiresAt: '2030-01-01T00:00:00Z', file })
    expect(a.key).toMatch(/^slk_[A-Za-z0-9_-]{43}$/)
    expect(a.key).not.toBe(b.key)
    const text = readFileSync(file, 'utf8')
    expect(text).not.toContain(a.key)
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const ring = new KeyRing(parseKeysFile(text))
    expect(ring.check(a.key)).toMatchObject({ ok: true, principal: { keyId: 'ci', tenants: ['acme'] } })
    expect(ring.check(b.key)).toMatchObject({ ok: true, principal: { keyId: 'ops', tenants: '*' } })
  })

  it('refuses a duplicate id, an unknown scope or a bad tenant, leaving the file as it was', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sluice-keys-')), 'keys.json')
    createKey({ id: 'ci', tenants: ['acme'], scopes: ['ingest'], file })
    const before = readFileSync(file, 'utf8')
    expect(() => createKey({ id: 'ci', tenants: ['acme'], scopes: ['ingest'], file })).toThrow(/duplicate key id ci/)
    expect(() => createKey({ id: 'x', tenants: ['acme'], scopes: ['write'], file })).toThrow(/scopes\.0/)
    expect(() => createKey({ id: 'y', tenants: ['a b'], scopes: ['query'], file })).toThrow(/tenants\.0/)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })
})
