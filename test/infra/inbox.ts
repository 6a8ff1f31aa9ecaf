// Test factory for notification inbox items (the value of the alerter's compacted inbox topic,
// `notificationsTopic(env)`, keyed "<tenant>|<id>"); ws-fanout passes them through as stored.
export function inboxItem(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    v: 1,
    id: 'fp-1:2',
    tenant: 'acme',
    alert_id: 'fp-1',
    version: 2,
    status: 'firing',
    severity: 'critical',
    service: 'checkout',
    rule_id: 'checkout-errors',
    rule_name: 'Checkout error rate',
    rule_kind: 'error_rate',
    summary: '25% of checkout logs are errors',
    value: 0.25,
    threshold: 0.1,
    at: '2025-11-23T12:00:00.123Z',
    channels: [
      { name: 'email', result: 'delivered' },
      { name: 'slack', result: 'pending' },
    ],
    read_at: null,
    read_by: null,
    ...over,
  }
}
