import { describe, expect, it } from 'vitest'
import { authenticate, isLoopback, requestCredentials } from './auth.js'
import { ClickHouseHttpError, errorBody, fromEngineError, httpStatusOf } from './errors.js'

describe('errors as ClickHouse sends them', () => {
  it('keeps the engine code and text, and adds the version trailer', () => {
    const err = fromEngineError(new Error('Code: 60. DB::Exception: Unknown table expression identifier `nope` in scope SELECT * FROM nope. (UNKNOWN_TABLE)'))
    expect([err.code, err.type]).toEqual([60, 'UNKNOWN_TABLE'])
    expect(errorBody(err, '26.7.2.1')).toBe('Code: 60. DB::Exception: Unknown table expression identifier `nope` in scope SELECT * FROM nope. (UNKNOWN_TABLE) (version 26.7.2.1)\n')
    const own = new ClickHouseHttpError(164, 'READONLY', 'Cannot execute query in readonly mode')
    expect(errorBody(own, '26.7.2.1')).toBe('Code: 164. DB::Exception: Cannot execute query in readonly mode. (READONLY) (version 26.7.2.1)\n')
    expect(fromEngineError(new TypeError('boom')).code).toBe(1002)
  })

  it('maps codes to HTTP statuses as ClickHouse does', () => {
    expect([62, 60, 81, 497, 516, 194, 159, 229, 48, 164, 396].map(httpStatusOf)).toEqual([400, 404, 404, 403, 403, 401, 408, 413, 501, 500, 500])
  })
})

describe('credentials', () => {
  const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`
  const none = new Map<string, string>()

  it('reads X-ClickHouse headers, then basic auth, then URL parameters; no user is default', () => {
    expect(requestCredentials({ 'x-clickhouse-user': 'a', 'x-clickhouse-key': 'k', authorization: basic('b:c') }, none)).toEqual({ user: 'a', password: 'k' })
    expect(requestCredentials({ authorization: basic('b:c:d') }, new Map([['user', 'x']]))).toEqual({ user: 'b', password: 'c:d' })
    expect(requestCredentials({}, new Map([['user', 'x'], ['password', 'y']]))).toEqual({ user: 'x', password: 'y' })
    expect(requestCredentials({}, none)).toEqual({ user: 'default', password: '' })
  })

  it('without a password accepts the user from this host only; with one, asks for it', () => {
    const code = (fn: () => void) => {
      try {
        fn()
        return 0
      } catch (err) {
        return (err as ClickHouseHttpError).code
      }
    }
    const open = { user: 'default', password: '' }
    expect(code(() => authenticate({ user: 'default', password: '' }, open, '127.0.0.1'))).toBe(0)
    expect(code(() => authenticate({ user: 'default', password: '' }, open, '::ffff:127.0.0.1'))).toBe(0)
    expect(code(() => authenticate({ user: 'default', password: '' }, open, '10.1.2.3'))).toBe(516)
    expect(code(() => authenticate({ user: 'other', password: '' }, open, '::1'))).toBe(516)
    const locked = { user: 'analyst', password: 's3cret' }
    expect(code(() => authenticate({ user: 'analyst', password: '' }, locked, '10.1.2.3'))).toBe(194)
    expect(code(() => authenticate({ user: 'analyst', password: 'nope' }, locked, '10.1.2.3'))).toBe(516)
    expect(code(() => authenticate({ user: 'analyst', password: 's3cret' }, locked, '10.1.2.3'))).toBe(0)
    expect([isLoopback('127.8.0.1'), isLoopback('::1'), isLoopback('128.0.0.1'), isLoopback(undefined)]).toEqual([true, true, false, false])
  })
})
