// What a notification says, per channel kind: one message for one alert state change, or for a
// group of alerts notified together (a channel's `group.wait_ms`). Pure functions of the alerts.
import type { Alert, AlertSeverity, AlertStatus } from '@sluice/core'
import { formatNs } from '@sluice/core'

// Generic webhook body. Timestamps (epoch ns in the model) become RFC 3339 strings with
// nanoseconds; every other Alert field is passed as-is. Headers: content-type: application/json,
// idempotency-key: <id>:<version> (a group: group:<hash>), user-agent: sluice-alerter.
//   {
//     "idempotency_key": "0f3c…e1:3",
//     "alert": {
//       "id": "0f3c…e1", "tenant": "acme", "rule_id": "checkout-errors", "rule_name": "Checkout error rate",
//       "rule_kind": "error_rate", "service": "checkout", "pattern_id": null, "severity": "critical",
//       "status": "firing", "value": 0.12, "threshold": 0.05,
//       "window_start": "2026-11-23T12:00:00.000000000Z", "window_end": "2026-11-23T12:05:00.000000000Z",
//       "started_at": "2026-11-23T12:05:00.000000000Z", "updated_at": "2026-11-23T12:05:00.000000000Z",
//       "resolved_at": null, "acknowledged_by": null, "resolved_by": null, "resolve_reason": null,
//       "summary": "…", "sample_log_ids": ["…"], "version": 3
//     }
//   }
// A group of several alerts: { "idempotency_key": "group:…", "alerts": [ <alert>, … ] }.
type TimestampField = 'window_start' | 'window_end' | 'started_at' | 'updated_at' | 'resolved_at'
export type AlertJson = Omit<Alert, TimestampField> & Record<Exclude<TimestampField, 'resolved_at'>, string> & { resolved_at: string | null }

/** An alert as JSON (webhook bodies, the alerter's HTTP API): nanosecond timestamps as RFC 3339 strings. */
export function alertToJson(alert: Alert): AlertJson {
  return {
    ...alert,
    window_start: formatNs(alert.window_start),
    window_end: formatNs(alert.window_end),
    started_at: formatNs(alert.started_at),
    updated_at: formatNs(alert.updated_at),
    resolved_at: alert.resolved_at === null ? null : formatNs(alert.resolved_at),
  }
}

export function webhookBody(alerts: Alert[], key: string): unknown {
  return alerts.length === 1 ? { idempotency_key: key, alert: alertToJson(alerts[0]!) } : { idempotency_key: key, alerts: alerts.map(alertToJson) }
}

/** "[FIRING] Checkout error rate" for one alert, "[FIRING] 3 alerts" (or "[2 FIRING, 1 RESOLVED] 3 alerts") for several. */
export function title(alerts: Alert[]): string {
  if (alerts.length === 1) return `${label(alerts[0]!.status)} ${alerts[0]!.rule_name}`
  const counts = new Map<AlertStatus, number>()
  for (const a of alerts) counts.set(a.status, (counts.get(a.status) ?? 0) + 1)
  const status = counts.size === 1 ? label(alerts[0]!.status) : `[${[...counts].map(([s, n]) => `${n} ${s.toUpperCase()}`).join(', ')}]`
  return `${status} ${alerts.length} alerts`
}

const label = (s: AlertStatus) => `[${s.toUpperCase()}]`

/** One line per alert: status, rule, tenant/service, value and threshold, then who acted. */
export function alertLine(a: Alert): string {
  const who = a.status === 'resolved' && a.resolved_by ? `, resolved by ${a.resolved_by}` : a.acknowledged_by && a.status === 'acknowledged' ? `, acknowledged by ${a.acknowledged_by}` : ''
  return `${label(a.status)} ${a.rule_name} (${a.severity}): ${a.tenant}/${a.service}, value ${formatNumber(a.value)} (threshold ${formatNumber(a.threshold)})${who}`
}

/** The explanation and next steps an alert carries (ALERTER_EXPLAIN_URL), as text; '' without one. */
export function explanationText(a: Pick<Alert, 'explanation' | 'runbook'>): string {
  const steps = a.runbook ?? []
  return [a.explanation ? `Explanation: ${a.explanation}` : '', steps.length > 0 ? `Next steps:\n${steps.map((s) => `- ${s}`).join('\n')}` : ''].filter((s) => s !== '').join('\n')
}

/** The plain-text message: the lines, each alert's summary and, when it has one, its explanation. */
export function plainText(alerts: Alert[]): string {
  return alerts
    .map((a) => {
      const explained = explanationText(a)
      return `${alertLine(a)}\n${a.summary}${a.resolve_reason ? `\nReason: ${a.resolve_reason}` : ''}${explained === '' ? '' : `\n${explained}`}`
    })
    .join('\n\n')
}

// Slack incoming-webhook body (Block Kit; also accepted by Slack-compatible receivers such as
// Mattermost). Slack answers 200 with the body `ok`. `text` is the notification fallback.
//   {
//     "text": "[FIRING] Checkout error rate: acme/checkout, value 0.12 (threshold 0.05)",
//     "blocks": [
//       { "type": "section", "text": { "type": "mrkdwn", "text": ":rotating_light: *[FIRING] Checkout error rate* (critical)" } },
//       { "type": "section", "fields": [
//           { "type": "mrkdwn", "text": "*Tenant / service*\nacme / checkout" },
//           { "type": "mrkdwn", "text": "*Value*\n0.12 (threshold 0.05)" },
//           { "type": "mrkdwn", "text": "*Rule*\nerror_rate `checkout-errors`" },
//           { "type": "mrkdwn", "text": "*Since*\n2026-11-23T12:05:00.000Z" } ] },
//       { "type": "section", "text": { "type": "mrkdwn", "text": "<summary>" } },
//       { "type": "context", "elements": [ { "type": "mrkdwn", "text": "alert `0f3c…e1` · version 3" } ] }
//     ]
//   }
// A group: a heading section, then per alert (up to 20) a line and its summary.
const STATUS_EMOJI: Record<Exclude<AlertStatus, 'firing'>, string> = { acknowledged: ':eyes:', resolved: ':white_check_mark:' }
const SEVERITY_EMOJI: Record<AlertSeverity, string> = { critical: ':rotating_light:', warning: ':warning:', info: ':information_source:' }
/** Slack rejects section texts over 3000 characters and messages over 50 blocks. */
const SLACK_SECTION_CHARS = 2900
const SLACK_GROUP_ALERTS = 20

const emoji = (a: Alert) => (a.status === 'firing' ? SEVERITY_EMOJI[a.severity] : STATUS_EMOJI[a.status])
const when = (a: Alert) => (a.resolved_at === null ? { title: 'Since', ns: a.started_at } : { title: 'Resolved', ns: a.resolved_at })
const isoMs = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString()

export function slackBody(alerts: Alert[]): { text: string; blocks: unknown[] } {
  if (alerts.length > 1) {
    const shown = alerts.slice(0, SLACK_GROUP_ALERTS)
    const more = alerts.length - shown.length
    return {
      text: mrkdwn(title(alerts)),
      blocks: [
        { type: 'section', text: { type: 'mrkdwn', text: `*${mrkdwn(title(alerts))}*` } },
        ...shown.map((a) => ({ type: 'section', text: { type: 'mrkdwn', text: `${emoji(a)} ${mrkdwn(alertLine(a))}\n${mrkdwn(a.summary)}`.slice(0, SLACK_SECTION_CHARS) } })),
        ...(more > 0 ? [{ type: 'context', elements: [{ type: 'mrkdwn', text: `and ${more} more` }] }] : []),
      ],
    }
  }
  const alert = alerts[0]!
  const head = `${label(alert.status)} ${mrkdwn(alert.rule_name)}`
  const value = `${formatNumber(alert.value)} (threshold ${formatNumber(alert.threshold)})`
  const w = when(alert)
  const context = [`alert \`${mrkdwn(alert.id)}\``, `version ${alert.version}`]
  if (alert.acknowledged_by !== null) context.push(`acknowledged by ${mrkdwn(alert.acknowledged_by)}`)
  if (alert.resolved_by) context.push(`resolved by ${mrkdwn(alert.resolved_by)}`)
  const summary = mrkdwn(alert.resolve_reason ? `${alert.summary}\nReason: ${alert.resolve_reason}` : alert.summary).slice(0, SLACK_SECTION_CHARS)
  return {
    text: `${head}: ${mrkdwn(alert.tenant)}/${mrkdwn(alert.service)}, value ${value}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: `${emoji(alert)} *${head}* (${alert.severity})` } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: `*Tenant / service*\n${mrkdwn(alert.tenant)} / ${mrkdwn(alert.service)}` },
          { type: 'mrkdwn', text: `*Value*\n${value}` },
          { type: 'mrkdwn', text: `*Rule*\n${alert.rule_kind} \`${mrkdwn(alert.rule_id)}\`` },
          { type: 'mrkdwn', text: `*${w.title}*\n${isoMs(w.ns)}` },
        ],
      },
      // Slack rejects an empty section text.
      ...(summary === '' ? [] : [{ type: 'section', text: { type: 'mrkdwn', text: summary } }]),
      ...(explanationText(alert) === '' ? [] : [{ type: 'section', text: { type: 'mrkdwn', text: mrkdwn(explanationText(alert)).slice(0, SLACK_SECTION_CHARS) } }]),
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  }
}

// Microsoft Teams (a Workflows "post to a channel when a webhook request is received" URL, or any
// receiver of the same shape): a message with one Adaptive Card attachment. Teams answers 202.
//   { "type": "message", "attachments": [ { "contentType": "application/vnd.microsoft.card.adaptive",
//       "content": { "type": "AdaptiveCard", "version": "1.4", "body": [ TextBlock title, per alert a
//       FactSet (status, severity, service, value, since) and its summary ] } } ] }
export function teamsBody(alerts: Alert[]): unknown {
  const body: unknown[] = [{ type: 'TextBlock', text: title(alerts), weight: 'Bolder', size: 'Medium', wrap: true }]
  for (const a of alerts.slice(0, SLACK_GROUP_ALERTS)) {
    const w = when(a)
    const facts = [
      { title: 'Rule', value: `${a.rule_name} (${a.rule_kind})` },
      { title: 'Status', value: a.status },
      { title: 'Severity', value: a.severity },
      { title: 'Tenant / service', value: `${a.tenant} / ${a.service}` },
      { title: 'Value', value: `${formatNumber(a.value)} (threshold ${formatNumber(a.threshold)})` },
      { title: w.title, value: isoMs(w.ns) },
    ]
    if (a.acknowledged_by !== null) facts.push({ title: 'Acknowledged by', value: a.acknowledged_by })
    if (a.resolved_by) facts.push({ title: 'Resolved by', value: a.resolved_by })
    body.push({ type: 'FactSet', separator: true, facts })
    body.push({ type: 'TextBlock', text: a.resolve_reason ? `${a.summary}\n\nReason: ${a.resolve_reason}` : a.summary, wrap: true, isSubtle: true })
    if (explanationText(a) !== '') body.push({ type: 'TextBlock', text: explanationText(a), wrap: true })
  }
  return {
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body } }],
  }
}

/**
 * A webhook template: any JSON value whose strings may hold {{placeholders}}. A string that is
 * exactly one placeholder takes the value as it is (a number stays a number, an object an object);
 * otherwise each placeholder is replaced by its text. Names: title, text, status, count, tenant,
 * idempotency_key, alert.<field> (the first alert), alerts.<i>.<field>. Unknown names give "".
 * Values are inserted as JSON values, never as JSON text, so log content cannot change the shape.
 */
export function renderTemplate(template: unknown, alerts: Alert[], key: string): unknown {
  const json = alerts.map(alertToJson)
  const vars: Record<string, unknown> = { title: title(alerts), text: plainText(alerts), status: alerts[0]!.status, count: alerts.length, tenant: alerts[0]!.tenant, idempotency_key: key, alert: json[0], alerts: json }
  const lookup = (path: string): unknown => path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), vars)
  const text = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v))
  const walk = (node: unknown): unknown => {
    if (typeof node === 'string') {
      const whole = /^\{\{\s*([\w.]+)\s*\}\}$/.exec(node)
      if (whole) return lookup(whole[1]!) ?? ''
      return node.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_m, p: string) => text(lookup(p)))
    }
    if (Array.isArray(node)) return node.map(walk)
    if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v)]))
    return node
  }
  return walk(template)
}

/** Slack's mrkdwn control characters; templates such as `took <*> ms` would otherwise read as links. */
export function mrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)))
}
