import { describe, expect, it } from 'vitest'
import { createRedactor, luhnValid } from './redact.js'

const r = createRedactor()

describe('luhnValid', () => {
  it('accepts valid card numbers and rejects one digit off', () => {
    expect(luhnValid('4111111111111111')).toBe(true)
    expect(luhnValid('378282246310005')).toBe(true)
    expect(luhnValid('4111111111111112')).toBe(false)
  })
})

describe('redactor', () => {
  it('redacts emails', () => {
    expect(r.text('password reset sent to jane.doe+shop@example.co.uk')).toEqual({ text: 'password reset sent to [REDACTED_EMAIL]', redacted: true })
  })

  it('redacts Luhn-valid card numbers with spaces, dashes or none', () => {
    expect(r.text('charge card 4111 1111 1111 1111 for 12.00').text).toBe('charge card [REDACTED_CARD] for 12.00')
    expect(r.text('amex 3782-822463-10005 declined').text).toBe('amex [REDACTED_CARD] declined')
    expect(r.text('mc=5555555555554444,').text).toBe('mc=[REDACTED_CARD],')
  })

  it('redacts card numbers grouped in twos, threes or single digits', () => {
    expect(r.text('amex 378 282 246 310 005 declined').text).toBe('amex [REDACTED_CARD] declined')
    expect(r.text('visa 41-11-11-11-11-11-11-11 ok').text).toBe('visa [REDACTED_CARD] ok')
    expect(r.text('typed 4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1').text).toBe('typed [REDACTED_CARD]')
    expect(r.attributes({ note: 'card 55 55 55 55 55 55 44 44' })).toEqual({ attributes: { note: 'card [REDACTED_CARD]' }, redacted: true })
  })

  it('leaves digit runs that fail Luhn or do not look like cards', () => {
    expect(r.text('order 4111111111111112 shipped')).toEqual({ text: 'order 4111111111111112 shipped', redacted: false })
    // Luhn-valid, but an epoch-ms timestamp (starts with 1) and a 12-digit id are not cards.
    expect(luhnValid('1763899200127')).toBe(true)
    expect(r.text('ts=1763899200127 id=411111111111').redacted).toBe(false)
    expect(r.text('trace 4bf92f3577b34da6a3ce929d0e0e4736').redacted).toBe(false)
  })

  it('redacts bearer tokens and key=value secrets, keeping the key', () => {
    expect(r.text('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U').text).toBe(
      'Authorization: Bearer [REDACTED_SECRET]',
    )
    expect(r.text('GET /v1/data?api_key=abcd1234efgh5678&page=2').text).toBe('GET /v1/data?api_key=[REDACTED_SECRET]&page=2')
    expect(r.text('{"user":"bob","password":"hunter2"}').text).toBe('{"user":"bob","password":"[REDACTED_SECRET]"}')
    expect(r.text('db_password = s3cr3t! csrf_token:9f8e7d').text).toBe('db_password = [REDACTED_SECRET] csrf_token:[REDACTED_SECRET]')
  })

  it('redacts well-known key formats', () => {
    for (const key of [
      'sk_live_51H8xYzAbCdEfGhIjKlMnOpQr',
      'AKIAIOSFODNN7EXAMPLE',
      'ghp_1234567890abcdefghijklmnopqrstuvwxyz12',
      'xoxb-123456789012-abcdefghijkl',
      'sk-proj-abcdefghijklmnopqrstuvwx1234',
    ]) {
      expect(r.text(`using key ${key} now`).text).toBe('using key [REDACTED_SECRET] now')
    }
  })

  it('does not redact prose about tokens and passwords', () => {
    for (const s of ['invalid token: expired', 'Token validation failed for user', 'Failed password for root from 10.0.0.1 port 22 ssh2', 'max_tokens=500']) {
      expect(r.text(s)).toEqual({ text: s, redacted: false })
    }
  })

  it('redacts IP addresses only when asked', () => {
    const msg = 'connect from 192.168.1.20 and 2001:db8::8a2e:370:7334'
    expect(r.text(msg).redacted).toBe(false)
    expect(createRedactor({ ipv4: true, ipv6: true }).text(msg).text).toBe('connect from [REDACTED_IP] and [REDACTED_IP]')
  })

  it('can turn kinds off', () => {
    expect(createRedactor({ email: false }).text('mail a@example.com').redacted).toBe(false)
  })

  it('redacts attribute values and replaces secret-named attributes whole', () => {
    expect(r.attributes({ 'http.request.header.authorization': 'Basic dXNlcjpwYXNz', email: 'a@example.com', path: '/x', api_key: '' })).toEqual({
      attributes: { 'http.request.header.authorization': '[REDACTED_SECRET]', email: '[REDACTED_EMAIL]', path: '/x', api_key: '' },
      redacted: true,
    })
    expect(r.attributes({ path: '/health' }).redacted).toBe(false)
  })

  it('redacts attribute keys: an email, a card or a known key used as a name', () => {
    const got = r.attributes({ 'users[ann@example.com]': 'admin', 'orders.4111 1111 1111 1111': 'paid', 'keys.sk_live_0123456789abcdef': 'rotated', 'http.response.status_code': '200' })
    expect(got).toEqual({
      attributes: { 'users[[REDACTED_EMAIL]]': 'admin', 'orders.[REDACTED_CARD]': 'paid', 'keys.[REDACTED_SECRET]': 'rotated', 'http.response.status_code': '200' },
      redacted: true,
    })
    // Order kept; keys that redact alike are numbered, so no value is lost; values redacted as before.
    expect(r.attributes({ a: '1', 'ann@example.com': 'x', 'bob@example.com': 'y', 'users.cy@example.com': 'z', z: 'mail bob@example.com' })).toEqual({
      attributes: { a: '1', '[REDACTED_EMAIL]': 'x', '[REDACTED_EMAIL]#2': 'y', '[REDACTED_EMAIL]#3': 'z', z: 'mail [REDACTED_EMAIL]' },
      redacted: true,
    })
    // A number is never a key the map has already.
    expect(Object.keys(r.attributes({ 'ann@example.com': 'x', 'bob@example.com': 'y', '[REDACTED_EMAIL]#2': 'w' }).attributes)).toEqual(['[REDACTED_EMAIL]', '[REDACTED_EMAIL]#3', '[REDACTED_EMAIL]#2'])
    expect(Object.keys(r.attributes({ 'ann@example.com': 'x', b: '2' }).attributes)).toEqual(['[REDACTED_EMAIL]', 'b'])
    // An RFC 5424 structured-data id (name@enterprise-number) is no address.
    const sd = { 'origin@32473.ip': '10.0.0.1', 'order@32473.id': 'o-1', 'exampleSDID@32473': 'x' }
    expect(r.attributes(sd)).toEqual({ attributes: sd, redacted: false })
    // Kinds turned off stay off for keys too; keys with nothing to redact leave the map as it was.
    expect(createRedactor({ email: false }).attributes({ 'ann@example.com': 'x' })).toEqual({ attributes: { 'ann@example.com': 'x' }, redacted: false })
    const plain = { 'service.instance.identifier.long': 'x', 'k8s.pod.name': 'p' }
    expect(r.attributes(plain)).toEqual({ attributes: plain, redacted: false })
  })

  it('finds what its cheap first tests look for in any case, and cards of thirteen digits', () => {
    expect(r.text('AUTHORIZATION: BEARER abcdef123456').text).toBe('AUTHORIZATION: BEARER [REDACTED_SECRET]')
    expect(r.text('DB_PASSWORD=hunter2 x').text).toBe('DB_PASSWORD=[REDACTED_SECRET] x')
    expect(r.text('aws AKIAIOSFODNN7EXAMPLE used').text).toBe('aws [REDACTED_SECRET] used')
    // 13-digit Visa numbers, whole or grouped; twelve digits are no card whatever their grouping.
    expect(luhnValid('4222222222222')).toBe(true)
    expect(r.text('visa 4222222222222 ok').text).toBe('visa [REDACTED_CARD] ok')
    expect(r.text('visa 4222-2222-2222-2 ok').text).toBe('visa [REDACTED_CARD] ok')
    expect(r.text('id 4222 2222 2222 x').redacted).toBe(false)
  })

  it('judges an attribute name the same way however many names it has seen', () => {
    const red = createRedactor()
    // More distinct names than the redactor remembers, then the ones that matter, twice each.
    for (let i = 0; i < 10_000; i++) expect(red.attributes({ [`name.${i}`]: 'v' }).redacted).toBe(false)
    for (let round = 0; round < 2; round++) {
      expect(red.attributes({ password: 'x', 'users[ann@example.com]': '1', 'http.route': '/a' })).toEqual({
        attributes: { password: '[REDACTED_SECRET]', 'users[[REDACTED_EMAIL]]': '1', 'http.route': '/a' },
        redacted: true,
      })
      expect(red.attributes({ 'http.route': 'card 4111 1111 1111 1111' }).attributes).toEqual({ 'http.route': 'card [REDACTED_CARD]' })
    }
    // A name longer than any ingest keeps is judged all the same, every time.
    const long = `${'x'.repeat(300)}.api_key`
    for (let round = 0; round < 2; round++) expect(red.attributes({ [long]: 'v' }).attributes).toEqual({ [long]: '[REDACTED_SECRET]' })
    // Options are the redactor's own: one without secrets keeps a password's value.
    expect(createRedactor({ secret: false }).attributes({ password: 'x' })).toEqual({ attributes: { password: 'x' }, redacted: false })
  })

  it('redacts a value under the key __proto__ as any other, keys renamed or not', () => {
    const attrs = JSON.parse('{"__proto__": "mail ann@example.com", "a": "1", "by.bob@example.com": "2"}') as Record<string, string>
    const got = r.attributes(attrs).attributes
    expect(Object.hasOwn(got, '__proto__')).toBe(true)
    expect(Object.getOwnPropertyDescriptor(got, '__proto__')?.value).toBe('mail [REDACTED_EMAIL]')
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype)
  })
})
