import { describe, expect, it } from 'vitest'
import { toRecord } from './records.js'
import type { StoredRow } from './records.js'

describe('toRecord', () => {
  it('answers a row as the /v1 record: its fields in order, times as RFC 3339, empty optional strings null', () => {
    const row: StoredRow = {
      id: 'r-1', tenant: 'acme', ts: '1796605714688584960', observed: '1796605714690000001', service: 'checkout', host: '', severity_text: 'ERROR',
      severity_number: 17, message: 'card declined', trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '', attributes: { 'user.id': 'u-1' },
      resource: { 'service.name': 'checkout' }, source: 'otlp', category: 'payment', is_error: true, pattern_id: 'p1', template: 'card <*>',
      classifier: 'rules', http_status: 402, duration_ms: null, user_id: 'u-1', session_id: '', error_code: 'E_CARD', redacted: false, truncated: true,
    }
    expect(JSON.stringify(toRecord(row))).toBe(
      '{"id":"r-1","tenant":"acme","service":"checkout","severity_text":"ERROR","severity_number":17,"message":"card declined",' +
        '"attributes":{"user.id":"u-1"},"resource":{"service.name":"checkout"},"source":"otlp","category":"payment","is_error":true,' +
        '"pattern_id":"p1","template":"card <*>","classifier":"rules","http_status":402,"duration_ms":null,"redacted":false,"truncated":true,' +
        '"timestamp":"2026-12-07T01:08:34.688584960Z","observed_timestamp":"2026-12-07T01:08:34.690000001Z","host":null,' +
        '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":null,"user_id":"u-1","session_id":null,"error_code":"E_CARD"}',
    )
  })
})
