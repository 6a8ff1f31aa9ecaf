// Alert email rendering: subjects for one alert and for groups, the facts in the text part, and
// the HTML part's escaping of hostile log-derived content. Sending is in email.int.test.ts.
import { describe, expect, it } from 'vitest'
import type { Alert } from '@sluice/core'
import { renderAlertEmail } from './email.js'
import { alertToJson } from './notify.js'
import type { AlertJson } from './notify.js'
import { ALERT_T, SECOND_NS, alertFixture } from '../../../test/infra/alerts.js'

const alert = (over: Partial<Alert> = {}): AlertJson => alertToJson(alertFixture(over))
const HOSTILE = `<script>alert("x")</script><img src=x onerror='y'> & <a href="http://evil.example">click</a>`

describe('renderAlertEmail subject', () => {
  it('names status, rule, tenant and service for one alert', () => {
    expect(renderAlertEmail([alert()]).subject).toBe('[FIRING] Checkout error rate — acme/checkout')
    expect(renderAlertEmail([alert({ status: 'acknowledged' })]).subject).toBe('[ACKNOWLEDGED] Checkout error rate — acme/checkout')
    expect(renderAlertEmail([alert({ status: 'resolved', resolved_at: ALERT_T + 60n * SECOND_NS })]).subject).toBe('[RESOLVED] Checkout error rate — acme/checkout')
  })

  it('counts a group with one status and names its tenant', () => {
    const group = [alert({ id: 'a' }), alert({ id: 'b', service: 'payments' }), alert({ id: 'c', rule_name: 'Other' })]
    expect(renderAlertEmail(group).subject).toBe('[FIRING] 3 alerts — acme')
  })

  it('summarises mixed statuses in lifecycle order and lists the tenants', () => {
    const group = [alert({ id: 'a', status: 'resolved' }), alert({ id: 'b' }), alert({ id: 'c', tenant: 'globex' }), alert({ id: 'd', status: 'acknowledged' })]
    expect(renderAlertEmail(group).subject).toBe('[2 FIRING, 1 ACKNOWLEDGED, 1 RESOLVED] 4 alerts — acme, globex')
  })

  it('counts tenants instead of listing them when there are many', () => {
    const group = ['t1', 't2', 't3', 't4'].map((tenant, i) => alert({ id: `a${i}`, tenant }))
    expect(renderAlertEmail(group).subject).toBe('[FIRING] 4 alerts — 4 tenants')
  })

  it('keeps a subject on one line whatever the rule name holds', () => {
    const { subject } = renderAlertEmail([alert({ rule_name: 'Errors\r\nBcc: victim@example.com\u001b[31m' })])
    expect(subject).toBe('[FIRING] Errors Bcc: victim@example.com [31m — acme/checkout')
    expect(subject).not.toMatch(/[\r\n]/)
  })

  it('cuts an overlong subject', () => {
    const { subject } = renderAlertEmail([alert({ rule_name: 'x'.repeat(500) })])
    expect(subject.length).toBe(200)
    expect(subject.endsWith('…')).toBe(true)
  })
})

describe('renderAlertEmail text part', () => {
  it('states every fact of a firing alert', () => {
    const { text } = renderAlertEmail([alert({ id: 'fp-9', version: 4, value: 0.123456, threshold: 0.1 })])
    expect(text).toContain('[FIRING] Checkout error rate')
    expect(text).toMatch(/Rule: +Checkout error rate \(error_rate checkout-errors\)/)
    expect(text).toMatch(/Severity: +critical/)
    expect(text).toMatch(/Status: +firing/)
    expect(text).toMatch(/Tenant \/ service: +acme\/checkout/)
    expect(text).toMatch(/Value: +0\.1235 \(threshold 0\.1\)/)
    expect(text).toMatch(/Started: +2025-11-23T12:00:00\.123456789Z/)
    expect(text).toMatch(/Alert: +fp-9 \(version 4\)/)
    expect(text).toMatch(/Sample logs: +log-1, log-2/)
    expect(text).toContain('  25% of checkout logs are errors')
    expect(text).not.toContain('Resolved')
    expect(text).not.toContain('Acknowledged by')
  })

  it('adds who acknowledged or resolved, and when it resolved', () => {
    const ack = renderAlertEmail([alert({ status: 'acknowledged', acknowledged_by: 'oncall-1' })]).text
    expect(ack).toMatch(/Acknowledged by: +oncall-1/)
    const resolved = renderAlertEmail([
      alert({ status: 'resolved', resolved_at: ALERT_T + 90n * SECOND_NS, acknowledged_by: 'oncall-1', resolved_by: 'oncall-2', resolve_reason: 'deploy rolled back' }),
    ]).text
    expect(resolved).toMatch(/Resolved: +2025-11-23T12:01:30\.123456789Z/)
    expect(resolved).toMatch(/Resolved by: +oncall-2/)
    expect(resolved).toMatch(/Resolve reason: +deploy rolled back/)
  })

  it('renders an alert object without the optional actor fields', () => {
    const { resolved_by: _rb, resolve_reason: _rr, ...older } = alert({ resolved_by: 'x', resolve_reason: 'y' })
    const { text } = renderAlertEmail([older as AlertJson])
    expect(text).not.toContain('Resolved by')
    expect(text).toMatch(/Alert: +fp-1 \(version 1\)/)
  })

  it('indents a multi-line summary and drops control characters', () => {
    const { text } = renderAlertEmail([alert({ summary: 'line one\r\n\u001b[31mline two\u0000' })])
    expect(text).toContain('  line one\n  [31mline two\n')
    for (const c of ['\u0000', '\u001b', '\r']) expect(text).not.toContain(c)
  })

  it('writes one block per alert of a group, with an overview first', () => {
    const group = [alert({ id: 'a1', rule_name: 'First rule' }), alert({ id: 'a2', rule_name: 'Second rule', status: 'resolved', resolved_at: ALERT_T + SECOND_NS })]
    const { text } = renderAlertEmail(group, { title: 'Sluice staging' })
    expect(text.startsWith('Sluice staging: 2 alerts (1 firing, 1 resolved)\n')).toBe(true)
    const first = text.indexOf('[FIRING] First rule')
    const second = text.indexOf('[RESOLVED] Second rule')
    expect(first).toBeGreaterThan(0)
    expect(second).toBeGreaterThan(first)
    expect(text.slice(first, second)).toMatch(/Alert: +a1 \(version 1\)/)
    expect(text.slice(second)).toMatch(/Alert: +a2 \(version 1\)/)
  })

  it('cuts an overlong summary', () => {
    const { text } = renderAlertEmail([alert({ summary: 'y'.repeat(10_000) })])
    expect(text).toContain(`${'y'.repeat(3999)}…`)
    expect(text).not.toContain('y'.repeat(4000))
  })

  it('refuses an empty group', () => {
    expect(() => renderAlertEmail([])).toThrow(RangeError)
  })
})

describe('renderAlertEmail HTML part', () => {
  it('escapes every interpolated value', () => {
    const hostile = alert({
      rule_name: HOSTILE,
      tenant: '<b>t</b>',
      service: '"svc"',
      summary: HOSTILE,
      acknowledged_by: `<iframe src="x">`,
      id: `id'<x>`,
      sample_log_ids: ['<log>'],
    })
    const { html } = renderAlertEmail([hostile], { title: '<title>pwn</title>' })
    for (const raw of ['<script', '<img', '<a ', '<iframe', '<b>', '<x>', '<log>', '<title>pwn']) expect(html).not.toContain(raw)
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;y&#39;&gt; &amp; &lt;a href=&quot;http://evil.example&quot;&gt;click&lt;/a&gt;')
    expect(html).toContain('&lt;b&gt;t&lt;/b&gt;/&quot;svc&quot;')
    expect(html).toContain('&lt;iframe src=&quot;x&quot;&gt;')
    expect(html).toContain('id&#39;&lt;x&gt; (version 1)')
    expect(html).toContain('<title>&lt;title&gt;pwn&lt;/title&gt;</title>')
  })

  it('uses only its own markup: no scripts, no external resources', () => {
    const { html } = renderAlertEmail([alert({ summary: HOSTILE }), alert({ id: 'b' })])
    const tags = new Set([...html.matchAll(/<\/?([a-zA-Z0-9!]+)/g)].map((m) => m[1]!.toLowerCase()))
    expect([...tags].sort()).toEqual(['!doctype', 'body', 'h2', 'head', 'html', 'meta', 'p', 'table', 'td', 'th', 'title', 'tr'])
    const attributes = [...html.matchAll(/<[^>]*>/g)].map((m) => m[0]).join(' ')
    expect(attributes).not.toMatch(/\b(src|href|background)=|url\(/i)
    expect(attributes).toContain('style=')
  })

  it('holds the same facts as the text part, one table per alert', () => {
    const group = [alert({ id: 'a1', acknowledged_by: 'oncall-1', status: 'acknowledged' }), alert({ id: 'a2', service: 'payments' })]
    const { html } = renderAlertEmail(group)
    expect(html.match(/<table/g)).toHaveLength(2)
    expect(html).toContain('<h2 style="font-size:16px;margin:20px 0 6px">[ACKNOWLEDGED] Checkout error rate</h2>')
    expect(html).toMatch(/<th[^>]*>Acknowledged by<\/th><td[^>]*>oncall-1<\/td>/)
    expect(html).toMatch(/<th[^>]*>Tenant \/ service<\/th><td[^>]*>acme\/payments<\/td>/)
    expect(html).toMatch(/<th[^>]*>Value<\/th><td[^>]*>0\.25 \(threshold 0\.1\)<\/td>/)
    expect(html).toMatch(/<th[^>]*>Summary<\/th><td[^>]*>25% of checkout logs are errors<\/td>/)
    expect(html).toContain('Sluice alerts: 2 alerts (1 firing, 1 acknowledged)')
  })
})
