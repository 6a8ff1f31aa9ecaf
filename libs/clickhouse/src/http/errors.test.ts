import { describe, expect, it } from 'vitest'
import { authenticate, isLoopback, isServiceUser, requestCredentials } from './auth.js'
import { ClickHouseHttpError, errorBody, fromEngineError, httpStatusOf, insertDataError } from './errors.js'

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

describe('the service user', () => {
  it('exists only with a password, and only for its own name and password', () => {
    const on = { user: 'sluice', password: 's3cret' }
    expect(isServiceUser({ user: 'sluice', password: 's3cret' }, on)).toBe(true)
    expect(isServiceUser({ user: 'sluice', password: 's3cre' }, on)).toBe(false)
    expect(isServiceUser({ user: 'default', password: 's3cret' }, on)).toBe(false)
    expect(isServiceUser({ user: 'sluice', password: '' }, { user: 'sluice', password: '' })).toBe(false)
  })
})

describe('errors of INSERT rows', () => {
  const engine = (code: number, name: string, message: string) => new Error(`Code: ${code}. DB::Exception: ${message}. (${name}) (version 26.7.2.1)`)
  const FROM_FILE = ': While executing File: data for INSERT was parsed from file'

  it('answers 400 for a body the engine could not read, though ClickHouse answers 500', () => {
    expect(insertDataError(engine(33, 'CANNOT_READ_ALL_DATA', `Cannot read all data. Bytes read: 1${FROM_FILE}`)).status).toBe(400)
    expect(insertDataError(engine(354, 'ZLIB_INFLATE_FAILED', `inflate failed: data error${FROM_FILE}`))).toMatchObject({ status: 400, code: 354 })
    expect(insertDataError(engine(16, 'NO_SUCH_COLUMN_IN_TABLE', 'No such column zz in table d.t')).status).toBe(400)
  })

  it("keeps the server's faults 5xx and the others' status as they are", () => {
    expect(insertDataError(engine(241, 'MEMORY_LIMIT_EXCEEDED', `Memory limit exceeded${FROM_FILE}`)).status).toBe(500)
    expect(insertDataError(engine(252, 'TOO_MANY_PARTS', 'Too many parts')).status).toBe(500)
    expect(insertDataError(engine(60, 'UNKNOWN_TABLE', 'Table d.x does not exist')).status).toBe(404)
    expect(insertDataError(engine(27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', `Cannot parse input${FROM_FILE}`)).status).toBe(400)
  })
})
