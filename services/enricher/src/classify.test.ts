import { describe, expect, it } from 'vitest'
import { ZodError } from 'zod'
import { compileRules } from './classify.js'
import type { ClassifyInput } from './classify.js'
import { DEFAULT_RULES } from './default-rules.js'

const SEV = { DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 } as const

function input(message: string, over: Partial<ClassifyInput> = {}): ClassifyInput {
  return { severityNumber: SEV.INFO, service: 'api', message, template: message, attributes: {}, httpStatus: null, errorCode: null, ...over }
}

describe('compileRules', () => {
  it('reports every invalid field with its path', () => {
    try {
      compileRules({ rules: [{ id: 'a', category: 'disk', message: '(' }, { id: 'a', category: 'network' }] })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ZodError)
      const issues = (err as ZodError).issues.map((i) => [i.path.join('.'), i.message])
      expect(issues).toEqual(
        expect.arrayContaining([
          ['rules.0.category', expect.stringContaining('Invalid option')],
          ['rules.0.message', expect.stringContaining('invalid regular expression')],
          ['rules.1', expect.stringContaining('at least one condition')],
        ]),
      )
    }
  })

  it('rejects unknown keys and duplicate ids', () => {
    expect(() => compileRules({ rules: [{ id: 'a', category: 'network', mesage: 'x' }] })).toThrow(ZodError)
    expect(() => compileRules({ rules: [{ id: 'a', category: 'network', message: 'x' }, { id: 'a', category: 'auth', message: 'y' }] })).toThrow(/duplicate rule id/)
  })

  it('applies the first rule whose conditions all hold', () => {
    const classify = compileRules({
      rules: [
        { id: 'pay-svc-errors', category: 'payment', services: ['payments-*'], min_level: 'ERROR', is_error: true },
        { id: 'db', category: 'database', message: 'deadlock', case_sensitive: true },
        { id: 'warn-only', category: 'application', levels: ['WARN'], template: '^retry <\\*>' },
        { id: 'status', category: 'dependency', attributes: { http_status: '^50[23]$', region: '^eu-' } },
      ],
    })
    expect(classify(input('boom', { service: 'payments-api', severityNumber: SEV.ERROR }))).toEqual({ category: 'payment', is_error: true, rule: 'pay-svc-errors' })
    expect(classify(input('boom', { service: 'payments-api', severityNumber: SEV.WARN })).rule).toBeNull()
    expect(classify(input('deadlock found')).category).toBe('database')
    expect(classify(input('Deadlock found')).category).toBe('unknown')
    expect(classify(input('x', { template: 'retry <*> later', severityNumber: 14 })).rule).toBe('warn-only')
    expect(classify(input('x', { template: 'retry <*> later', severityNumber: SEV.ERROR })).rule).toBeNull()
    expect(classify(input('x', { httpStatus: 503, attributes: { region: 'eu-west-1' } })).rule).toBe('status')
    expect(classify(input('x', { httpStatus: 503, attributes: { region: 'us-east-1' } })).rule).toBeNull()
  })

  it('derives is_error from the level when the rule does not set it, and defaults to unknown', () => {
    const classify = compileRules({ rules: [{ id: 'auth', category: 'auth', message: 'denied' }] })
    expect(classify(input('access denied', { severityNumber: SEV.WARN })).is_error).toBe(false)
    expect(classify(input('access denied', { severityNumber: SEV.ERROR })).is_error).toBe(true)
    expect(classify(input('all good', { severityNumber: SEV.FATAL }))).toEqual({ category: 'unknown', is_error: true, rule: null })
  })
})

describe('default rules', () => {
  const classify = compileRules(DEFAULT_RULES)

  it.each([
    ['database', 'ERROR: deadlock detected DETAIL: Process 4242 waits for ShareLock on transaction 1234', true],
    ['database', 'org.postgresql.util.PSQLException: ERROR: duplicate key value violates unique constraint "users_email_key"', true],
    ['database', 'SQLSTATE[HY000] [2002] Connection refused', true],
    ['database', "Error: ER_LOCK_WAIT_TIMEOUT: Lock wait timeout exceeded; try restarting transaction", true],
    ['database', 'MongoServerError: E11000 duplicate key error collection: shop.orders index: _id_', true],
    ['database', 'HikariPool-1 - Connection is not available, request timed out after 30000ms.', true],
    ['network', 'Error: connect ECONNREFUSED 127.0.0.1:6379', true],
    ['network', 'read ECONNRESET', true],
    ['network', 'dial tcp: lookup payments.internal on 10.96.0.10:53: no such host; getaddrinfo ENOTFOUND payments.internal', true],
    ['network', 'Connection reset by peer', true],
    ['network', 'x509: certificate has expired or is not yet valid', true],
    ['timeout', 'Error: Timeout awaiting \'request\' for 30000ms - ETIMEDOUT', true],
    ['timeout', 'context deadline exceeded', true],
    ['timeout', 'java.net.SocketTimeoutException: Read timed out', true],
    ['dependency', 'upstream connect error or disconnect/reset before headers. reset reason: connection failure', true],
    ['dependency', '503 Service Unavailable from inventory-service', true],
    ['dependency', 'CircuitBreaker \'payments\' is OPEN and does not permit further calls', true],
    ['auth', 'JsonWebTokenError: invalid signature', false],
    ['auth', 'TokenExpiredError: jwt expired', false],
    ['auth', 'Failed password for invalid user admin from 203.0.113.9 port 53122 ssh2', false],
    ['auth', 'User is not authorized: 403 Forbidden', false],
    ['resource', 'java.lang.OutOfMemoryError: Java heap space', true],
    ['resource', 'Container app was OOMKilled (exit code 137)', true],
    ['resource', 'FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory', true],
    ['resource', 'ENOSPC: no space left on device, write', true],
    ['payment', 'Your card was declined. (code: card_declined, decline_code: insufficient_funds)', false],
    ['payment', 'StripeCardError: Your card has insufficient funds.', false],
    ['security', "Possible SQL injection attempt blocked: id=1' OR '1'='1", false],
    ['security', 'Blocked XSS attempt in parameter q: <script>alert(1)</script>', false],
    ['security', 'reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!', false],
    ['security', 'GET /static/../../../../etc/passwd rejected', false],
  ] as const)('%s ← %s', (category, message, isError) => {
    expect(classify(input(message, { severityNumber: SEV.INFO }))).toMatchObject({ category, is_error: isError })
  })

  it('classifies by extracted HTTP status when the message says nothing', () => {
    expect(classify(input('GET /api/users/<*>', { httpStatus: 502 }))).toMatchObject({ category: 'dependency', is_error: true })
    expect(classify(input('GET /api/users/<*>', { httpStatus: 504 }))).toMatchObject({ category: 'timeout', is_error: true })
    expect(classify(input('GET /api/users/<*>', { httpStatus: 401 }))).toMatchObject({ category: 'auth', is_error: false })
    expect(classify(input('GET /api/users/<*>', { httpStatus: 500 }))).toMatchObject({ category: 'application', is_error: true })
    expect(classify(input('GET /api/users/<*>', { httpStatus: 200 }))).toMatchObject({ category: 'unknown', is_error: false })
  })

  it('treats exceptions at WARN and anything at ERROR as application problems', () => {
    expect(classify(input('Unhandled rejection: TypeError: Cannot read properties of undefined', { severityNumber: SEV.WARN }))).toMatchObject({ category: 'application', is_error: false })
    expect(classify(input('something odd happened', { severityNumber: SEV.ERROR }))).toMatchObject({ category: 'application', is_error: true })
  })

  it('does not flag ordinary lines', () => {
    for (const m of ['request completed', 'Set socket timeout to 30s', 'Notification time out: 3200', 'user 42 logged in', 'cache warmed in 120ms']) {
      expect(classify(input(m))).toEqual({ category: 'unknown', is_error: false, rule: null })
    }
  })
})
