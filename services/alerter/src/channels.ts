// Notification channels as data: the channel document people create through the API, its routing
// (filter and quiet hours), and how it is stored (secrets sealed) and shown (secrets never shown).
//
// The smallest channel is {"name":"ops","kind":"webhook","url":"https://…"}; everything else has
// a default. A channel belongs to one tenant and sees only that tenant's alerts; channels from
// ALERTER_WEBHOOK_URLS / ALERTER_SLACK_WEBHOOK_URLS are read-only and see every tenant.
import { z } from 'zod'
import { ALERT_RULE_KINDS, ALERT_SEVERITIES, ALERT_STATUSES } from '@sluice/core'
import type { Alert } from '@sluice/core'
import type { SecretBox } from '@sluice/core'

export const CHANNEL_KINDS = ['webhook', 'slack', 'teams', 'email'] as const
export type ChannelKind = (typeof CHANNEL_KINDS)[number]
export const GROUP_FIELDS = ['service', 'rule_id', 'severity', 'status'] as const
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM, 00:00-23:59')
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).max(2048)

/** Headers the alerter sets itself (content-type is the one a channel may replace) or HTTP's framing owns. */
const RESERVED_HEADERS = new Set(['idempotency-key', 'user-agent', 'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect', 'proxy-connection'])
const headerValue = z
  .string()
  .max(4096)
  // What HTTP can carry in a field value: no control characters (tab aside), Latin-1 at most.
  .regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'expected a header value: no line breaks or other control characters, no characters beyond Latin-1 (encode them)')
const headers = z
  .record(z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'expected a header name'), headerValue)
  .refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())), {
    error: (issue) => `header ${Object.keys(issue.input as object).find((k) => RESERVED_HEADERS.has(k.toLowerCase()))} is set by the alerter or by HTTP itself`,
  })
  .refine((h) => new Set(Object.keys(h).map((k) => k.toLowerCase())).size === Object.keys(h).length, 'a header named twice (names are case-insensitive)')

const MAX_TEMPLATE_DEPTH = 32
/** Nesting of a JSON value, counted without recursion (a value nested 50 000 deep is refused, not a stack overflow). */
function depthOf(value: unknown): number {
  let max = 0
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [v, d] = stack.pop()!
    if (v === null || typeof v !== 'object') continue
    if (d > max) max = d
    if (max > MAX_TEMPLATE_DEPTH) break
    for (const c of Object.values(v)) stack.push([c, d + 1])
  }
  return max
}
const template = z
  .unknown()
  .superRefine((v, ctx) => {
    if (depthOf(v) > MAX_TEMPLATE_DEPTH) ctx.addIssue({ code: 'custom', message: `expected a JSON body nested at most ${MAX_TEMPLATE_DEPTH} levels deep` })
    else if (JSON.stringify(v ?? null).length > 65_536) ctx.addIssue({ code: 'custom', message: 'expected a JSON body of at most 64 KiB' })
  })
  .pipe(z.json())
const timezone = z
  .string()
  .max(64)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz })
      return true
    } catch {
      return false
    }
  }, 'unknown IANA time zone')

const filterSchema = z
  .object({
    severities: z.array(z.enum(ALERT_SEVERITIES)).max(3).optional(),
    services: z.array(z.string().min(1).max(256)).max(200).optional(),
    rule_ids: z.array(z.string().min(1).max(256)).max(200).optional(),
    rule_kinds: z.array(z.enum(ALERT_RULE_KINDS)).max(ALERT_RULE_KINDS.length).optional(),
    statuses: z.array(z.enum(ALERT_STATUSES)).max(3).optional(),
  })
  .strict()

const quietSchema = z.object({ start: hhmm, end: hhmm, days: z.array(z.enum(DAYS)).max(7).optional() }).strict()

const groupSchema = z
  .object({
    /** Alerts with equal values of these fields (and the same tenant) share one message. */
    by: z.array(z.enum(GROUP_FIELDS)).max(GROUP_FIELDS.length).default(['service']),
    /** How long the first alert of a group waits for others (0: every alert is sent alone, at once). */
    wait_ms: z.number().int().min(0).max(600_000).default(0),
    /** After a group's message, how long later alerts of the group wait before the next one. */
    interval_ms: z.number().int().min(0).max(3_600_000).default(60_000),
  })
  .strict()

const smtpSchema = z
  .object({
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535).default(587),
    security: z.enum(['starttls', 'tls', 'none']).default('starttls'),
    user: z.string().min(1).max(256).optional(),
    password: z.string().min(1).max(1024).optional(),
    verify_certificate: z.boolean().default(true),
  })
  .strict()

const common = {
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . - (starting with a letter or digit)'),
  description: z.string().max(500).optional(),
  enabled: z.boolean().default(true),
  filter: filterSchema.default({}),
  /** Times (in `timezone`) when matching alerts are not sent; the inbox still shows them, as muted. */
  quiet_hours: z.array(quietSchema).max(14).default([]),
  timezone: timezone.default('UTC'),
  group: groupSchema.default({ by: ['service'], wait_ms: 0, interval_ms: 60_000 }),
  /** Requests per minute (retries included); above it requests wait, never drop. Default ALERTER_NOTIFY_MAX_PER_MINUTE. */
  max_per_minute: z.number().int().min(1).max(6000).optional(),
}

const webhook = z
  .object({
    ...common,
    kind: z.literal('webhook'),
    url: httpUrl,
    /** Extra request headers (Authorization for an issue tracker…): secrets, never shown. */
    headers: headers.optional(),
    /** A JSON body with {{placeholders}} instead of the standard body (Jira, chat tools); see README. */
    template: template.optional(),
  })
  .strict()
const slack = z.object({ ...common, kind: z.literal('slack'), url: httpUrl }).strict()
const teams = z.object({ ...common, kind: z.literal('teams'), url: httpUrl }).strict()
const email = z
  .object({
    ...common,
    kind: z.literal('email'),
    to: z.array(z.email()).min(1).max(50),
    /** Default ALERTER_EMAIL_FROM. */
    from: z.email().optional(),
    smtp: smtpSchema,
  })
  .strict()

export const channelSchema = z.discriminatedUnion('kind', [webhook, slack, teams, email])
export type ChannelSpec = z.output<typeof channelSchema>
export type ChannelInput = z.input<typeof channelSchema>

/** The fields of a spec that are secrets. */
interface Secrets {
  url?: string
  headers?: Record<string, string>
  smtp_password?: string
}

/** A channel as stored on the channels topic: the spec without its secrets, and the secrets sealed. */
export interface StoredChannel {
  v: 1
  tenant: string
  spec: Record<string, unknown>
  sealed: string | null
  created_at: string
  updated_at: string
}

export const channelKey = (tenant: string, name: string): string => `${tenant}|${name}`

function splitSecrets(spec: ChannelSpec): { rest: Record<string, unknown>; secrets: Secrets } {
  const secrets: Secrets = {}
  const rest: Record<string, unknown> = { ...spec }
  if (spec.kind === 'email') {
    if (spec.smtp.password !== undefined) secrets.smtp_password = spec.smtp.password
    const { password: _password, ...smtp } = spec.smtp
    rest.smtp = smtp
  } else {
    secrets.url = spec.url
    delete rest.url
    if (spec.kind === 'webhook' && spec.headers !== undefined) {
      secrets.headers = spec.headers
      delete rest.headers
    }
  }
  return { rest, secrets }
}

function joinSecrets(rest: Record<string, unknown>, secrets: Secrets): ChannelSpec {
  const spec: Record<string, unknown> = { ...rest }
  if (secrets.url !== undefined) spec.url = secrets.url
  if (secrets.headers !== undefined) spec.headers = secrets.headers
  if (secrets.smtp_password !== undefined) spec.smtp = { ...(rest.smtp as object), password: secrets.smtp_password }
  return channelSchema.parse(spec)
}

export function sealChannel(box: SecretBox, tenant: string, spec: ChannelSpec, times: { created_at: string; updated_at: string }): StoredChannel {
  const { rest, secrets } = splitSecrets(spec)
  const sealed = Object.keys(secrets).length === 0 ? null : box.seal(JSON.stringify(secrets), channelKey(tenant, spec.name))
  return { v: 1, tenant, spec: rest, sealed, ...times }
}

export function openChannel(box: SecretBox, stored: StoredChannel): ChannelSpec {
  const secrets = stored.sealed === null ? {} : (JSON.parse(box.open(stored.sealed, channelKey(stored.tenant, stored.spec.name as string))) as Secrets)
  return joinSecrets(stored.spec, secrets)
}

/**
 * An update's input completed from the stored channel: secrets left out of the update (the URL, the
 * headers, the SMTP password) keep their stored values, so a client can change a filter without
 * knowing them. Everything else is replaced.
 */
export function withKeptSecrets(input: Record<string, unknown>, previous: ChannelSpec | undefined): Record<string, unknown> {
  if (previous === undefined || input.kind !== previous.kind) return input
  const out = { ...input }
  if (previous.kind === 'email') {
    const smtp = out.smtp as Record<string, unknown> | undefined
    if (smtp !== undefined && smtp.password === undefined && previous.smtp.password !== undefined) out.smtp = { ...smtp, password: previous.smtp.password }
  } else {
    if (out.url === undefined) out.url = previous.url
    if (previous.kind === 'webhook' && out.headers === undefined && previous.headers !== undefined) out.headers = previous.headers
  }
  return out
}

/** What the API shows of a channel: no secret, only that it is set (and a URL's origin). */
export function redactChannel(spec: ChannelSpec): Record<string, unknown> {
  const { rest } = splitSecrets(spec)
  if (spec.kind === 'email') return { ...rest, smtp: { ...(rest.smtp as object), password_set: spec.smtp.password !== undefined } }
  const out: Record<string, unknown> = { ...rest, url: `${new URL(spec.url).origin}/…` }
  if (spec.kind === 'webhook' && spec.headers !== undefined) out.headers = Object.fromEntries(Object.keys(spec.headers).map((h) => [h, '…']))
  return out
}

/** Whether an alert state change is for this channel (the tenant rule aside). */
export function matchesFilter(filter: ChannelSpec['filter'], alert: Alert): boolean {
  const has = <T>(list: readonly T[] | undefined, v: T) => list === undefined || list.length === 0 || list.includes(v)
  return (
    has(filter.severities, alert.severity) &&
    has(filter.services, alert.service) &&
    has(filter.rule_ids, alert.rule_id) &&
    has(filter.rule_kinds, alert.rule_kind) &&
    has(filter.statuses, alert.status)
  )
}

const minutes = (s: string): number => Number(s.slice(0, 2)) * 60 + Number(s.slice(3, 5))
const WEEKDAY: Record<string, (typeof DAYS)[number]> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' }

/**
 * Whether `at` falls in one of the quiet periods, read in the channel's time zone. A period whose
 * end is before its start runs over midnight (22:00-07:00); its `days` name the day it starts.
 */
export function inQuietHours(periods: ChannelSpec['quiet_hours'], timezone: string, at: Date): boolean {
  if (periods.length === 0) return false
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: timezone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at)
  const part = (type: string) => parts.find((p) => p.type === type)?.value ?? ''
  const day = WEEKDAY[part('weekday')]!
  const yesterday = DAYS[(DAYS.indexOf(day) + 6) % 7]!
  const now = Number(part('hour')) * 60 + Number(part('minute'))
  return periods.some((p) => {
    const start = minutes(p.start)
    const end = minutes(p.end)
    const on = (d: (typeof DAYS)[number]) => p.days === undefined || p.days.length === 0 || p.days.includes(d)
    if (start === end) return on(day) // the whole day
    if (start < end) return on(day) && now >= start && now < end
    return (on(day) && now >= start) || (on(yesterday) && now < end)
  })
}

/** The grouping key of an alert for a channel: its tenant and the channel's group fields. */
export function groupKey(by: ChannelSpec['group']['by'], alert: Alert): string {
  return [alert.tenant, ...by.map((f) => alert[f])].join('\u0000')
}
