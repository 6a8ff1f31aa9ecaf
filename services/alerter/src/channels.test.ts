// Channel documents: defaults, validation messages, secrets sealed and never shown, routing filters,
// quiet hours across midnight and time zones, grouping keys.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { alertFixture } from '../../../test/infra/alerts.js'
import { channelSchema, groupKey, inQuietHours, matchesFilter, openChannel, redactChannel, sealChannel, withKeptSecrets } from './channels.js'
import type { ChannelSpec } from './channels.js'
import { SecretBox } from '@sluice/core'

const box = new SecretBox(randomBytes(32))
const times = { created_at: '2026-12-01T00:00:00.000Z', updated_at: '2026-12-01T00:00:00.000Z' }
const parse = (doc: unknown): ChannelSpec => channelSchema.parse(doc)
const issues = (doc: unknown): string[] => {
  const r = channelSchema.safeParse(doc)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('channel documents', () => {
  it('fills every default from the smallest webhook channel', () => {
    expect(parse({ name: 'ops', kind: 'webhook', url: 'https://hooks.example/x' })).toEqual({
      name: 'ops',
      kind: 'webhook',
      url: 'https://hooks.example/x',
      enabled: true,
      filter: {},
      quiet_hours: [],
      timezone: 'UTC',
      group: { by: ['service'], wait_ms: 0, interval_ms: 60_000 },
    })
  })

  it('names what is wrong: kind, URL scheme, e-mail addresses, time zone, quiet-hour times, unknown fields', () => {
    expect(issues({ name: 'ops', kind: 'pager', url: 'https://x.example' })[0]).toMatch(/^kind: /)
    expect(issues({ name: 'ops', kind: 'slack', url: 'ftp://x.example/hook' })).toEqual(['url: expected an http(s) URL'])
    expect(issues({ name: 'mail', kind: 'email', to: ['not-an-address'], smtp: { host: 'smtp.example' } })[0]).toMatch(/^to\.0: /)
    expect(issues({ name: 'ops', kind: 'teams', url: 'https://x.example', timezone: 'Mars/Olympus' })).toEqual(['timezone: unknown IANA time zone'])
    expect(issues({ name: 'ops', kind: 'teams', url: 'https://x.example', quiet_hours: [{ start: '24:00', end: '07:00' }] })[0]).toMatch(/^quiet_hours\.0\.start: expected HH:MM/)
    expect(issues({ name: 'ops', kind: 'webhook', url: 'https://x.example', colour: 'red' })[0]).toMatch(/colour/)
    expect(issues({ name: '-ops', kind: 'webhook', url: 'https://x.example' })[0]).toMatch(/^name: /)
  })

  it('refuses headers no request can carry or that the alerter and HTTP set themselves, and a template too deep or too big', () => {
    const hook = (extra: Record<string, unknown>) => issues({ name: 'ops', kind: 'webhook', url: 'https://x.example', ...extra })
    for (const value of ['a\r\nInjected: 1', 'nul\u0000', 'héllo ☃']) expect(hook({ headers: { 'X-Token': value } }), value).toEqual([expect.stringMatching(/^headers\.X-Token: expected a header value/)])
    expect(hook({ headers: { 'X-Token': 'héllo\tok' } })).toEqual([])
    for (const name of ['Transfer-Encoding', 'connection', 'Content-Length', 'Idempotency-Key', 'User-Agent', 'Host']) expect(hook({ headers: { [name]: 'x' } }), name).toEqual([`headers: header ${name} is set by the alerter or by HTTP itself`])
    expect(hook({ headers: { 'Content-Type': 'application/vnd.api+json', Authorization: 'Bearer t' } })).toEqual([])
    expect(hook({ headers: { 'X-A': '1', 'x-a': '2' } })).toEqual(['headers: a header named twice (names are case-insensitive)'])
    let deep: unknown = '{{title}}'
    for (let i = 0; i < 50_000; i++) deep = [deep]
    expect(hook({ template: deep })).toEqual(['template: expected a JSON body nested at most 32 levels deep'])
    let fine: unknown = '{{title}}'
    for (let i = 0; i < 31; i++) fine = { a: fine }
    expect(hook({ template: fine })).toEqual([])
    expect(hook({ template: { text: 'x'.repeat(70_000) } })).toEqual(['template: expected a JSON body of at most 64 KiB'])
  })

  it('seals secrets away from the stored document and opens them again only with the same key and channel', () => {
    const spec = parse({ name: 'jira', kind: 'webhook', url: 'https://jira.example/rest/api/2/issue?token=s3cr3t', headers: { Authorization: 'Basic dXNlcjpwYXNz' }, template: { a: '{{title}}' } })
    const stored = sealChannel(box, 'acme', spec, times)
    const text = JSON.stringify(stored)
    expect(text).not.toContain('s3cr3t')
    expect(text).not.toContain('dXNlcjpwYXNz')
    expect(stored.spec).toMatchObject({ name: 'jira', kind: 'webhook', template: { a: '{{title}}' } })
    expect(openChannel(box, stored)).toEqual(spec)
    expect(() => openChannel(new SecretBox(randomBytes(32)), stored)).toThrow(/neither the current key nor a previous one/)
    // A sealed value moved onto another channel does not open (the channel is authenticated data).
    expect(() => openChannel(box, { ...stored, tenant: 'other' })).toThrow()
  })

  it('keeps an email password sealed and shows only that it is set', () => {
    const spec = parse({ name: 'mail', kind: 'email', to: ['oncall@example.com'], smtp: { host: 'smtp.example', user: 'alerts', password: 'hunter2' } })
    const stored = sealChannel(box, 'acme', spec, times)
    expect(JSON.stringify(stored)).not.toContain('hunter2')
    expect(openChannel(box, stored)).toEqual(spec)
    const shown = redactChannel(spec)
    expect(JSON.stringify(shown)).not.toContain('hunter2')
    expect(shown.smtp).toEqual({ host: 'smtp.example', port: 587, security: 'starttls', user: 'alerts', verify_certificate: true, password_set: true })
  })

  it("shows a URL's origin only, and header names without values", () => {
    const shown = redactChannel(parse({ name: 'ops', kind: 'webhook', url: 'https://hooks.example/services/T0/B0/tok3n', headers: { 'X-Token': 'abc' } }))
    expect(shown.url).toBe('https://hooks.example/…')
    expect(shown.headers).toEqual({ 'X-Token': '…' })
    expect(JSON.stringify(shown)).not.toMatch(/tok3n|abc/)
  })

  it('keeps stored secrets an update leaves out, and takes the ones it gives', () => {
    const previous = parse({ name: 'ops', kind: 'webhook', url: 'https://a.example/1', headers: { 'X-Token': 'old' } })
    expect(withKeptSecrets({ name: 'ops', kind: 'webhook', filter: { severities: ['critical'] } }, previous)).toEqual({
      name: 'ops',
      kind: 'webhook',
      filter: { severities: ['critical'] },
      url: 'https://a.example/1',
      headers: { 'X-Token': 'old' },
    })
    expect(withKeptSecrets({ name: 'ops', kind: 'webhook', url: 'https://b.example/2' }, previous).url).toBe('https://b.example/2')
    // Another kind starts afresh: nothing of the old channel is carried over.
    expect(withKeptSecrets({ name: 'ops', kind: 'slack' }, previous)).toEqual({ name: 'ops', kind: 'slack' })
    const mail = parse({ name: 'm', kind: 'email', to: ['a@example.com'], smtp: { host: 'h', password: 'pw' } })
    expect(withKeptSecrets({ name: 'm', kind: 'email', to: ['b@example.com'], smtp: { host: 'h2' } }, mail).smtp).toEqual({ host: 'h2', password: 'pw' })
  })
})

describe('routing', () => {
  it('passes an alert when every listed field matches, and everything when the filter is empty', () => {
    const a = alertFixture({ severity: 'critical', service: 'checkout', rule_id: 'checkout-errors', rule_kind: 'error_rate', status: 'firing' })
    expect(matchesFilter({}, a)).toBe(true)
    expect(matchesFilter({ severities: ['critical'], services: ['checkout', 'cart'] }, a)).toBe(true)
    expect(matchesFilter({ severities: ['warning'] }, a)).toBe(false)
    expect(matchesFilter({ services: ['cart'] }, a)).toBe(false)
    expect(matchesFilter({ rule_ids: ['other'] }, a)).toBe(false)
    expect(matchesFilter({ rule_kinds: ['absence'] }, a)).toBe(false)
    expect(matchesFilter({ statuses: ['resolved'] }, a)).toBe(false)
  })

  it('reads quiet hours in the channel time zone, over midnight, on the days they start', () => {
    const night = [{ start: '22:00', end: '07:00' }]
    expect(inQuietHours(night, 'UTC', new Date('2026-12-01T23:30:00Z'))).toBe(true)
    expect(inQuietHours(night, 'UTC', new Date('2026-12-01T06:59:00Z'))).toBe(true)
    expect(inQuietHours(night, 'UTC', new Date('2026-12-01T07:00:00Z'))).toBe(false)
    expect(inQuietHours(night, 'UTC', new Date('2026-12-01T12:00:00Z'))).toBe(false)
    // 21:30 UTC is 22:30 in Paris (CET, UTC+1 in December).
    expect(inQuietHours(night, 'Europe/Paris', new Date('2026-12-01T21:30:00Z'))).toBe(true)
    expect(inQuietHours(night, 'America/New_York', new Date('2026-12-01T21:30:00Z'))).toBe(false)
    // Weekend nights only: Saturday 23:00 and Sunday 03:00 (the night that started Saturday) are quiet; Monday 03:00 is not.
    const weekend = [{ start: '22:00', end: '07:00', days: ['sat' as const] }]
    expect(inQuietHours(weekend, 'UTC', new Date('2026-12-05T23:00:00Z'))).toBe(true)
    expect(inQuietHours(weekend, 'UTC', new Date('2026-12-06T03:00:00Z'))).toBe(true)
    expect(inQuietHours(weekend, 'UTC', new Date('2026-12-07T03:00:00Z'))).toBe(false)
    expect(inQuietHours([], 'UTC', new Date())).toBe(false)
  })

  it('groups by tenant and the chosen fields', () => {
    const a = alertFixture({ service: 'checkout', severity: 'critical' })
    expect(groupKey(['service'], a)).toBe(groupKey(['service'], { ...a, rule_id: 'other', severity: 'info' }))
    expect(groupKey(['service'], a)).not.toBe(groupKey(['service'], { ...a, service: 'cart' }))
    expect(groupKey(['service'], a)).not.toBe(groupKey(['service'], { ...a, tenant: 'other' }))
    expect(groupKey(['service', 'severity'], a)).not.toBe(groupKey(['service', 'severity'], { ...a, severity: 'info' }))
  })
})
