import { describe, expect, it } from 'vitest'
import { extractFields, parseDurationMs } from './extract.js'

describe('extractFields', () => {
  it('finds the HTTP status under common names, skipping non-numeric ones', () => {
    expect(extractFields({ status: 'ok', status_code: '404' }).http_status).toBe(404)
    expect(extractFields({ 'http.status_code': '503' }).http_status).toBe(503)
    expect(extractFields({ 'res.statusCode': '200', statusCode: '201' }).http_status).toBe(201)
    expect(extractFields({ http_status: '999' }).http_status).toBeNull()
  })

  it('converts durations to milliseconds from the key or the unit', () => {
    expect(extractFields({ duration_ms: '12.5' }).duration_ms).toBe(12.5)
    expect(extractFields({ request_time: '0.734' }).duration_ms).toBe(734)
    expect(extractFields({ took: '1m2.5s' }).duration_ms).toBe(62_500)
    expect(extractFields({ latency: '250µs' }).duration_ms).toBe(0.25)
    expect(extractFields({ elapsed: '40' }).duration_ms).toBe(40)
    expect(extractFields({ duration_ns: '2500000' }).duration_ms).toBe(2.5)
    expect(extractFields({ duration: 'fast' }).duration_ms).toBeNull()
  })

  it('finds user and session ids', () => {
    expect(extractFields({ userId: 'u-42', sid: 's-1' })).toMatchObject({ user_id: 'u-42', session_id: 's-1' })
    expect(extractFields({ 'user.id': '7', 'session.id': 'abc' })).toMatchObject({ user_id: '7', session_id: 'abc' })
    expect(extractFields({ user: '-' }).user_id).toBeNull()
  })

  it('takes error codes from explicit names, and a bare `code` only when it is error-ish', () => {
    expect(extractFields({ errorCode: 'card_declined' }).error_code).toBe('card_declined')
    expect(extractFields({ code: 'ECONNRESET' }).error_code).toBe('ECONNRESET')
    expect(extractFields({ code: 'PAYMENT_REQUIRED' }).error_code).toBe('PAYMENT_REQUIRED')
    expect(extractFields({ code: 'fr' }).error_code).toBeNull()
    expect(extractFields({ code: 'fr' }, true).error_code).toBe('fr')
    expect(extractFields({ code: '200' }, true).error_code).toBeNull()
  })

  it('reads trace context from ids or a W3C traceparent', () => {
    expect(extractFields({ traceId: '4BF92F3577B34DA6A3CE929D0E0E4736', spanId: '00f067aa0ba902b7' })).toMatchObject({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7',
    })
    expect(extractFields({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })).toMatchObject({
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7',
    })
    expect(extractFields({ trace_id: 'not-hex' }).trace_id).toBeNull()
  })

  it('prefers names in their documented order, whatever order the record lists them in', () => {
    expect(extractFields({ status_code: '404', http_status: '500' }).http_status).toBe(500)
    expect(extractFields({ username: 'b', user_id: 'a', uid: 'c' }).user_id).toBe('a')
    expect(extractFields({ duration: '5s', duration_ms: 'soon', latency_ms: '7' }).duration_ms).toBe(7)
    expect(extractFields({ sid: 's-2', session_id: '-', sessionId: 's-1' }).session_id).toBe('s-1')
    expect(extractFields({ err_code: 'E2', errorCode: 'E1' }).error_code).toBe('E1')
  })

  it('returns all nulls for an empty map', () => {
    expect(extractFields({})).toEqual({ http_status: null, duration_ms: null, user_id: null, session_id: null, error_code: null, trace_id: null, span_id: null })
  })
})

describe('parseDurationMs', () => {
  it('rejects negative and malformed values', () => {
    expect(parseDurationMs('-5', 1)).toBeNull()
    expect(parseDurationMs('5 ms', null)).toBeNull()
    expect(parseDurationMs('1.5h', null)).toBe(5_400_000)
  })
})
