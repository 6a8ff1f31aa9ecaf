// Test factory for Alert records (the `alerts` topic's value), with nanosecond times around ALERT_T.
import type { Alert } from '@sluice/core'

/** 2025-11-23T12:00:00.123456789Z in epoch nanoseconds. */
export const ALERT_T = 1_763_899_200_123_456_789n
export const SECOND_NS = 1_000_000_000n

export function alertFixture(over: Partial<Alert> = {}): Alert {
  return {
    id: 'fp-1',
    tenant: 'acme',
    rule_id: 'checkout-errors',
    rule_name: 'Checkout error rate',
    rule_kind: 'error_rate',
    service: 'checkout',
    pattern_id: null,
    severity: 'critical',
    status: 'firing',
    value: 0.25,
    threshold: 0.1,
    window_start: ALERT_T - 60n * SECOND_NS,
    window_end: ALERT_T,
    started_at: ALERT_T,
    updated_at: ALERT_T + 1n,
    resolved_at: null,
    acknowledged_by: null,
    resolved_by: null,
    resolve_reason: null,
    explanation: null,
    runbook: [],
    summary: '25% of checkout logs are errors',
    sample_log_ids: ['log-1', 'log-2'],
    version: 1,
    ...over,
  }
}
