import { describe, expect, it } from 'vitest'
import { parseBody } from './index.js'

const REF = Date.UTC(2025, 10, 23, 12, 0, 0)

describe('parseBody', () => {
  it('recognises JSON and lifts its message, level and time', () => {
    const r = parseBody('{"level":50,"time":1763899200000,"hostname":"web-1","msg":"db down","err":{"code":"ECONNREFUSED"}}', REF)
    expect(r).toMatchObject({ format: 'json', message: 'db down', level: { text: 'ERROR', number: 17 }, timestampNs: 1_763_899_200_000_000_000n, host: 'web-1' })
    expect(r?.fields['err.code']).toBe('ECONNREFUSED')
  })

  it('recognises syslog and maps PRI to a level', () => {
    const r = parseBody('<11>1 2025-11-23T12:00:00Z db-1 postgres 812 - - FATAL: the database system is shutting down', REF)
    expect(r).toMatchObject({ format: 'syslog', level: { text: 'ERROR' }, host: 'db-1', app: 'postgres', message: 'FATAL: the database system is shutting down' })
    expect(r?.fields).toMatchObject({ 'syslog.facility': 'user', 'syslog.severity': '3', 'syslog.procid': '812' })
  })

  it('recognises access lines, templating them by route and raising 5xx to ERROR', () => {
    const r = parseBody('10.0.0.5 - - [23/Nov/2025:12:00:00 +0000] "GET /api/users/42 HTTP/1.1" 500 31 "-" "curl/8.5.0" 0.051', REF)
    expect(r).toMatchObject({ format: 'access', template: 'GET /api/users/<*>', level: { text: 'ERROR' }, message: undefined })
    expect(r?.fields).toMatchObject({ status: '500', method: 'GET', path: '/api/users/42', request_time: '0.051', client_ip: '10.0.0.5' })
    expect(parseBody('10.0.0.5 - - [23/Nov/2025:12:00:00 +0000] "GET / HTTP/1.1" 404 0', REF)?.level).toBeUndefined()
  })

  it('recognises logfmt', () => {
    expect(parseBody('level=warn msg="slow query" duration=1.2s table=orders', REF)).toMatchObject({ format: 'logfmt', message: 'slow query', level: { text: 'WARN' } })
  })

  it('leaves plain text alone', () => {
    expect(parseBody('PacketResponder 1 for block blk_38865049064139660 terminating', REF)).toBeUndefined()
    expect(parseBody('{ not json', REF)).toBeUndefined()
    expect(parseBody('', REF)).toBeUndefined()
  })
})
