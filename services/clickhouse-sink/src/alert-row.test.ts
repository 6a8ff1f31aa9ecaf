import { describe, expect, it } from 'vitest'
import { ALERT_T, alertFixture } from '../../../test/infra/alerts.js'
import { toAlertRow } from './alert-row.js'

const NS = ALERT_T
const alert = alertFixture

describe('toAlertRow', () => {
  it('maps every field to its column, nanosecond timestamps exact as strings', () => {
    expect(toAlertRow(alert())).toEqual({
      Id: 'fp-1',
      Tenant: 'acme',
      RuleId: 'checkout-errors',
      RuleName: 'Checkout error rate',
      RuleKind: 'error_rate',
      ServiceName: 'checkout',
      PatternId: '',
      Severity: 'critical',
      Status: 'firing',
      Value: 0.25,
      Threshold: 0.1,
      WindowStart: '1763899140123456789',
      WindowEnd: '1763899200123456789',
      StartedAt: '1763899200123456789',
      UpdatedAt: '1763899200123456790',
      ResolvedAt: null,
      AcknowledgedBy: '',
      ResolvedBy: '',
      ResolveReason: '',
      Explanation: '',
      Runbook: [],
      Summary: '25% of checkout logs are errors',
      SampleLogIds: ['log-1', 'log-2'],
      Version: 1,
    })
  })

  it('keeps the optional fields of a resolved, acknowledged pattern alert', () => {
    const row = toAlertRow(alert({ status: 'resolved', pattern_id: '0123456789abcdef', resolved_at: NS + 5n, acknowledged_by: 'oncall@acme', resolved_by: 'dana@acme', resolve_reason: 'rolled back', version: 3 }))
    expect(row).toMatchObject({ Status: 'resolved', PatternId: '0123456789abcdef', ResolvedAt: '1763899200123456794', AcknowledgedBy: 'oncall@acme', ResolvedBy: 'dana@acme', ResolveReason: 'rolled back', Version: 3 })
  })

  it('rejects a version the UInt32 Version column cannot hold, naming the alert', () => {
    expect(() => toAlertRow(alert({ version: -1 }))).toThrow(/alert fp-1: version -1/)
  })

  it('rejects timestamps that are not epoch nanoseconds, naming the field', () => {
    expect(() => toAlertRow(alert({ window_start: 0n }))).toThrow(/alert fp-1: window_start 0 is before 2001/)
    expect(() => toAlertRow(alert({ resolved_at: 1_763_899_200n }))).toThrow(/resolved_at 1763899200/)
    expect(toAlertRow(alert({ started_at: 1_000_000_000_000_000_000n })).StartedAt).toBe('1000000000000000000')
  })
})
