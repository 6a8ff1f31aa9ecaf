import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import type { ErrorCode } from '@sluice/core'
import { Auth, presentedKey } from './auth.js'
import { KeyRing, hashKey, parseKeysFile } from './keys.js'
import type { KeysFile } from './keys.js'

const FILE: KeysFile = {
  keys: [
    { id: 'acme-ship', sha256: hashKey('k-acme'), tenants: ['acme'], scopes: ['ingest'] },
    { id: 'ops', sha256: hashKey('k-ops'), tenants: ['acme', 'globex'], scopes: ['query', 'alerts'] },
    { id: 'root', sha256: hashKey('k-root'), tenants: ['*'], scopes: ['admin'] },
    { id: 'old', sha256: hashKey('k-old'), tenants: ['acme'], scopes: ['query'], disabled: true },
    { id: 'temp', sha256: hashKey('k-temp'), tenants: ['acme'], scopes: ['query'], expires_at: '2026-01-01T00:00:00Z' },
  ],
}
const NOW = Date.parse('2026-06-01T00:00:00Z')
const auth = new Auth({ enabled: true, keys: () => new KeyRing(FILE), clock: () => NOW })
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`

function codeOf(fn: () => unknown): ErrorCode | undefined {
  try {
    fn()
    return undefined
  } catch (err) {
    if (isSluiceError(err)) return err.code
    throw err
  }
}

describe('keys file', () => {
  it('stores only hashes and names every problem: bad hash, unknown scope, bad tenant, duplicate id', () => {
    expect(() => parseKeysFile('{"keys":[{"id":"a","sha256":"zz","tenants":["t"],"scopes":["ingest"]}]}')).toThrow(/sha256: expected the hex SHA-256/)
    expect(() => parseKeysFile(`{"keys":[{"id":"a","sha256":"${hashKey('x')}","tenants":["t"],"scopes":["write"]}]}`)).toThrow(/scopes\.0/)
    expect(() => parseKeysFile(`{"keys":[{"id":"a","sha256":"${hashKey('x')}","tenants":["a b"],"scopes":["query"]}]}`)).toThrow(/tenants\.0/)
    const dup = JSON.stringify({ keys: [FILE.keys[0], { ...FILE.keys[1], id: 'acme-ship' }] })
    expect(() => parseKeysFile(dup)).toThrow(/duplicate key id acme-ship/)
    expect(parseKeysFile(JSON.stringify(FILE)).keys).toHaveLength(5)
  })

  it('checks a key by its hash: unknown, disabled and expired keys are refused with their reason', () => {
    const ring = new KeyRing(FILE)
    expect(ring.check('k-acme', NOW)).toMatchObject({ ok: true, principal: { keyId: 'acme-ship', tenants: ['acme'] } })
    expect(ring.check('k-acme ', NOW)).toEqual({ ok: false, reason: 'unknown key' })
    expect(ring.check('k-old', NOW)).toEqual({ ok: false, reason: 'key disabled' })
    expect(ring.check('k-temp', NOW)).toEqual({ ok: false, reason: 'key expired' })
    expect(ring.check('k-temp', Date.parse('2025-12-31T00:00:00Z')).ok).toBe(true)
  })

  it('gives admin keys every scope', () => {
    const r = new KeyRing(FILE).check('k-root', NOW)
    expect(r.ok && [...r.principal.scopes].sort()).toEqual(['admin', 'alerts', 'ingest', 'query'])
  })
})

describe('credentials', () => {
  it('reads Bearer, Basic (the password, else the user), ApiKey (id:key or as is), Splunk (a HEC token), X-API-Key and DD-API-KEY', () => {
    expect(presentedKey({ authorization: 'Bearer k1' })).toBe('k1')
    expect(presentedKey({ authorization: 'bearer k1' })).toBe('k1')
    expect(presentedKey({ authorization: basic('promtail', 'k2') })).toBe('k2')
    expect(presentedKey({ authorization: basic('k3', '') })).toBe('k3')
    expect(presentedKey({ authorization: `ApiKey ${Buffer.from('id:k4').toString('base64')}` })).toBe('k4')
    expect(presentedKey({ 'x-api-key': 'k5', authorization: 'Bearer other' })).toBe('k5')
    expect(presentedKey({ authorization: 'Splunk 0c8a-hec-token' })).toBe('0c8a-hec-token')
    expect(presentedKey({ 'dd-api-key': 'k6' })).toBe('k6')
    expect(presentedKey({})).toBeUndefined()
  })

  it('refuses malformed and unknown schemes as 401s naming them', () => {
    expect(codeOf(() => presentedKey({ authorization: 'Digest abc' }))).toBe('UNAUTHORIZED')
    expect(codeOf(() => presentedKey({ authorization: 'Bearer' }))).toBe('UNAUTHORIZED')
    expect(codeOf(() => presentedKey({ authorization: `Basic ${Buffer.from('nocolon').toString('base64')}` }))).toBe('UNAUTHORIZED')
  })
})

describe('the tenant rule', () => {
  it('with authentication off asks for no key and takes the named tenant, else the fallback', () => {
    const off = new Auth({ enabled: false, keys: () => new KeyRing({ keys: [] }) })
    expect(off.authenticate({}, 'admin')).toBeNull()
    expect(off.tenant(null, 'globex', 'default')).toBe('globex')
    expect(off.tenant(null, undefined, undefined)).toBeUndefined()
  })

  it('asks for a key (401), a valid one (401) and the route scope (403)', () => {
    expect(codeOf(() => auth.authenticate({}, 'ingest'))).toBe('UNAUTHORIZED')
    expect(codeOf(() => auth.authenticate({ authorization: 'Bearer nope' }, 'ingest'))).toBe('UNAUTHORIZED')
    expect(codeOf(() => auth.authenticate({ authorization: 'Bearer k-acme' }, 'query'))).toBe('FORBIDDEN')
    expect(auth.authenticate({ authorization: 'Bearer k-acme' }, 'ingest')?.keyId).toBe('acme-ship')
  })

  it("binds the tenant to the key: its own, one of its list by name, any for '*' keys; another is refused", () => {
    const acme = auth.authenticate({ 'x-api-key': 'k-acme' }, 'ingest')
    const ops = auth.authenticate({ 'x-api-key': 'k-ops' }, 'query')
    const root = auth.authenticate({ 'x-api-key': 'k-root' }, 'query')
    expect(auth.tenant(acme, undefined, 'default')).toBe('acme')
    expect(auth.tenant(acme, 'acme', 'default')).toBe('acme')
    expect(codeOf(() => auth.tenant(acme, 'globex', 'default'))).toBe('FORBIDDEN')
    expect(auth.tenant(ops, undefined, 'default')).toBe('acme')
    expect(auth.tenant(ops, 'globex', 'default')).toBe('globex')
    expect(codeOf(() => auth.tenant(ops, 'initech', 'default'))).toBe('FORBIDDEN')
    expect(auth.tenant(root, 'initech', undefined)).toBe('initech')
    expect(auth.tenant(root, undefined, undefined)).toBeUndefined()
  })
})
