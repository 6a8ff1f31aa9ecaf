// Email delivery of alert notifications: renders one message for one alert or a group notified
// together, and sends it over SMTP with nodemailer, one connection per message (notifications are
// rare; a pool would only hold idle connections that relays drop).
// - Rendering is pure. Alert fields come from logs and rule configs, so every value is HTML-escaped
//   in the HTML part, and control characters are dropped from both parts; single-line fields lose
//   their line breaks so a value cannot forge extra rows or headers. The HTML loads nothing external.
// - send() never throws: every failure is an outcome whose canRetry reads the SMTP reply class
//   (4xx retry, 5xx final; a STARTTLS refused with 454 is a 4xx too) or, without a reply, whether
//   the failure was the network's (refused, reset, DNS, timeout: retry) or the configuration's
//   (a refused certificate, a failed TLS handshake, missing credentials: final). Retrying is the
//   caller's job, as for the webhook channels in notify.ts.
// - The idempotency key becomes the Message-ID, so a receiver can drop the copy of a retried
//   message whose first attempt did arrive.
// Error strings never carry the SMTP password, in plain or base64 as AUTH sends it.
import { randomUUID } from 'node:crypto'
import { createTransport } from 'nodemailer'
import type { AlertStatus } from '@sluice/core'
import { ALERT_STATUSES, errorMessage } from '@sluice/core'
import { explanationText } from './messages.js'
import type { AlertJson } from './messages.js'

export interface SmtpSettings {
  host: string
  /** The caller's default is 587. */
  port: number
  /** 'tls': implicit TLS from the first byte (port 465); 'starttls': upgrade required, fail when the server does not offer it; 'none': plain, never upgrades (local relays, tests). */
  security: 'tls' | 'starttls' | 'none'
  user?: string | undefined
  password?: string | undefined
  /** Verify the server certificate (default true); false only for self-signed test relays. */
  verifyCertificate: boolean
}

export interface EmailSettings {
  smtp: SmtpSettings
  from: string
  to: string[]
}

export interface EmailMessage {
  subject: string
  text: string
  html: string
}

export interface SendOutcome {
  ok: boolean
  /** SMTP reply code of the final answer, null on network errors. */
  code: number | null
  error: string | null
  canRetry: boolean
  /** The server's response line on success, e.g. "250 OK". */
  response: string | null
}

const DEFAULT_TITLE = 'Sluice alerts'
/** Summaries are log-derived and unbounded; a mail body is no place for megabytes. */
const SUMMARY_CHARS = 4000
const SUBJECT_CHARS = 200
const SAMPLE_LOG_IDS = 5
/** More distinct tenants than this in one group are counted in the subject, not listed. */
const SUBJECT_TENANTS = 3

/** One email for one or several alerts notified together (a group): subject, a plain-text and an HTML body. */
export function renderAlertEmail(alerts: AlertJson[], opts: { title?: string } = {}): EmailMessage {
  if (alerts.length === 0) throw new RangeError('renderAlertEmail needs at least one alert')
  const title = oneLine(opts.title ?? DEFAULT_TITLE)
  const blocks = alerts.map((a) => ({ heading: `${label(a.status)} ${oneLine(a.rule_name)}`, facts: facts(a), summary: multiLine([a.summary, explanationText(a)].filter((s) => s !== '').join('\n\n')) }))
  const overview = `${title}: ${countAlerts(alerts)} (${statusCounts(alerts).map(([s, n]) => `${n} ${s}`).join(', ')})`

  const text = [
    overview,
    ...blocks.map((b) => {
      const width = Math.max(...b.facts.map(([k]) => k.length)) + 1
      const rows = b.facts.map(([k, v]) => `  ${`${k}:`.padEnd(width)} ${v}`)
      const summary = b.summary === '' ? [] : ['', ...b.summary.split('\n').map((l) => `  ${l}`)]
      return [b.heading, ...rows, ...summary].join('\n')
    }),
  ].join('\n\n' + '-'.repeat(60) + '\n\n')

  const cell = 'padding:4px 8px;border:1px solid #ccc;vertical-align:top'
  const html = [
    '<!DOCTYPE html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>`,
    '<body style="font-family:sans-serif;font-size:14px;color:#222">',
    `<p>${escapeHtml(overview)}</p>`,
    ...blocks.map((b) =>
      [
        `<h2 style="font-size:16px;margin:20px 0 6px">${escapeHtml(b.heading)}</h2>`,
        '<table style="border-collapse:collapse">',
        ...b.facts.map(([k, v]) => `<tr><th style="${cell};text-align:left">${escapeHtml(k)}</th><td style="${cell}">${escapeHtml(v)}</td></tr>`),
        ...(b.summary === '' ? [] : [`<tr><th style="${cell};text-align:left">Summary</th><td style="${cell};white-space:pre-wrap">${escapeHtml(b.summary)}</td></tr>`]),
        '</table>',
      ].join('\n'),
    ),
    '</body></html>',
    '',
  ].join('\n')

  return { subject: subjectOf(alerts), text: text + '\n', html }
}

// Subjects: one alert   "[FIRING] Checkout error rate — acme/checkout"
//           a group     "[FIRING] 3 alerts — acme", "[2 FIRING, 1 RESOLVED] 3 alerts — acme, globex"
function subjectOf(alerts: AlertJson[]): string {
  const first = alerts[0]!
  if (alerts.length === 1) return truncate(`${label(first.status)} ${oneLine(first.rule_name)} — ${oneLine(first.tenant)}/${oneLine(first.service)}`, SUBJECT_CHARS)
  const counts = statusCounts(alerts)
  const status = counts.length === 1 ? label(first.status) : `[${counts.map(([s, n]) => `${n} ${s.toUpperCase()}`).join(', ')}]`
  const tenants = [...new Set(alerts.map((a) => oneLine(a.tenant)))]
  const where = tenants.length <= SUBJECT_TENANTS ? tenants.join(', ') : `${tenants.length} tenants`
  return truncate(`${status} ${countAlerts(alerts)} — ${where}`, SUBJECT_CHARS)
}

/** The facts of one alert as label/value rows, shared by the text and the HTML part. */
function facts(a: AlertJson): Array<[string, string]> {
  const rows: Array<[string, string]> = [
    ['Rule', `${oneLine(a.rule_name)} (${a.rule_kind} ${oneLine(a.rule_id)})`],
    ['Severity', a.severity],
    ['Status', a.status],
    ['Tenant / service', `${oneLine(a.tenant)}/${oneLine(a.service)}`],
    ['Value', `${formatNumber(a.value)} (threshold ${formatNumber(a.threshold)})`],
    ['Window', `${a.window_start} – ${a.window_end}`],
    ['Started', a.started_at],
  ]
  if (a.resolved_at !== null) rows.push(['Resolved', a.resolved_at])
  // Who acted on the alert: read by name, so an alert object without these fields renders too.
  const extra: Partial<Record<string, unknown>> = a
  for (const [key, name] of [['acknowledged_by', 'Acknowledged by'], ['resolved_by', 'Resolved by'], ['resolve_reason', 'Resolve reason']] as const) {
    const v = extra[key]
    if (typeof v === 'string' && v !== '') rows.push([name, oneLine(v)])
  }
  if (a.pattern_id !== null) rows.push(['Pattern', oneLine(a.pattern_id)])
  if (a.sample_log_ids.length > 0) {
    const more = a.sample_log_ids.length - SAMPLE_LOG_IDS
    rows.push(['Sample logs', a.sample_log_ids.slice(0, SAMPLE_LOG_IDS).map(oneLine).join(', ') + (more > 0 ? ` and ${more} more` : '')])
  }
  rows.push(['Alert', `${oneLine(a.id)} (version ${a.version})`])
  return rows
}

const label = (status: AlertStatus) => `[${status.toUpperCase()}]`
const countAlerts = (alerts: AlertJson[]) => (alerts.length === 1 ? '1 alert' : `${alerts.length} alerts`)

/** [status, count] in lifecycle order, statuses present only. */
function statusCounts(alerts: AlertJson[]): Array<[AlertStatus, number]> {
  return ALERT_STATUSES.map((s): [AlertStatus, number] => [s, alerts.filter((a) => a.status === s).length]).filter(([, n]) => n > 0)
}

// C0 and C1 controls (ANSI colour codes in log lines, NULs) except tab and newline.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g

function multiLine(s: string): string {
  return truncate(s.replace(/\r\n?/g, '\n').replace(CONTROL, '').trim(), SUMMARY_CHARS)
}

function oneLine(s: string): string {
  return s.replace(CONTROL, ' ').replace(/\s+/g, ' ').trim()
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(4)))
}

/** Failures without an SMTP reply that the next attempt may not meet: the network's, not the configuration's. */
const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
/** Node's codes for a certificate it refused (DEPTH_ZERO_SELF_SIGNED_CERT, CERT_HAS_EXPIRED, ERR_TLS_CERT_ALTNAME_INVALID, …), under nodemailer's ESOCKET or ETLS; retrying will not fix them. */
const CERTIFICATE_FAILURE = /CERT|UNABLE_TO_VERIFY/

/** What a refusing reply was refusing, by nodemailer's error code. */
const REPLY_CONTEXT: Partial<Record<string, string>> = { EAUTH: 'authentication failed', EENVELOPE: 'recipient or sender rejected', ETLS: 'STARTTLS refused' }

/** The fields nodemailer puts on its errors, as far as send() reads them. */
interface SmtpError {
  code?: unknown
  originalCode?: unknown
  responseCode?: unknown
  response?: unknown
  message?: unknown
}

export class EmailSender {
  readonly #from: string
  readonly #to: string[]
  readonly #transport: ReturnType<typeof createTransport>
  readonly #secrets: string[]
  readonly #timeoutMs: number

  constructor(settings: EmailSettings, opts: { timeoutMs: number }) {
    const { smtp } = settings
    if (smtp.host === '' || !Number.isInteger(smtp.port) || smtp.port < 1 || smtp.port > 65_535) throw new RangeError('smtp host must be set and port in 1..65535')
    if (settings.to.length === 0) throw new RangeError('email needs at least one recipient')
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0')
    this.#from = settings.from
    this.#to = [...settings.to]
    this.#timeoutMs = opts.timeoutMs
    const password = smtp.password ?? ''
    this.#secrets = password === '' ? [] : [password, b64(password), b64(`\0${smtp.user ?? ''}\0${password}`), b64(`${smtp.user ?? ''}\0${password}`)]
    this.#transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.security === 'tls',
      requireTLS: smtp.security === 'starttls',
      ignoreTLS: smtp.security === 'none',
      auth: smtp.user === undefined || smtp.user === '' ? undefined : { user: smtp.user, pass: password },
      tls: { rejectUnauthorized: smtp.verifyCertificate },
      connectionTimeout: opts.timeoutMs,
      greetingTimeout: opts.timeoutMs,
      socketTimeout: opts.timeoutMs,
      dnsTimeout: opts.timeoutMs,
      // The messages are plain strings; nothing in them may make nodemailer read a file or a URL.
      disableFileAccess: true,
      disableUrlAccess: true,
    })
  }

  /** Sends one message. idempotencyKey becomes the Message-ID (`<key@sluice>`, the key sanitised). Never throws: every failure is an outcome. */
  async send(message: EmailMessage, idempotencyKey: string): Promise<SendOutcome> {
    try {
      const info = await this.#transport.sendMail({
        from: this.#from,
        to: this.#to,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: messageIdFor(idempotencyKey),
      })
      return {
        ok: true,
        code: replyCode(info.response),
        // Some recipients refused, others took it: a retry would duplicate the accepted copies.
        error: info.rejected.length === 0 ? null : this.#redact(`recipients rejected: ${info.rejected.join(', ')}`),
        canRetry: false,
        response: info.response,
      }
    } catch (err) {
      return this.#failure(err)
    }
  }

  close(): void {
    this.#transport.close()
  }

  #failure(err: unknown): SendOutcome {
    const e: SmtpError = typeof err === 'object' && err !== null ? err : {}
    const code = typeof e.code === 'string' ? e.code : undefined
    const underlying = typeof e.originalCode === 'string' ? e.originalCode : undefined
    const message = errorMessage(err)
    if (typeof e.responseCode === 'number') {
      const reply = typeof e.response === 'string' && e.response !== '' ? e.response : String(e.responseCode)
      const what = REPLY_CONTEXT[code ?? ''] ?? 'server refused'
      return { ok: false, code: e.responseCode, error: this.#redact(`${what}: ${reply}`), canRetry: e.responseCode >= 400 && e.responseCode < 500, response: null }
    }
    const certificate = underlying !== undefined && CERTIFICATE_FAILURE.test(underlying)
    const canRetry = !certificate && [code, underlying].some((c) => c !== undefined && TRANSIENT_CODES.has(c))
    let error: string
    if (certificate) error = `TLS certificate rejected: ${message}`
    else if (code === 'ETIMEDOUT') error = `timed out after ${this.#timeoutMs} ms: ${message}`
    else if (code === 'EAUTH' || code === 'ENOAUTH') error = `authentication failed: ${message}`
    else if (code === 'ETLS') error = `TLS failed: ${message}`
    else error = `${[code, underlying].filter((c) => c !== undefined).join('/') || 'error'}: ${message}`
    return { ok: false, code: null, error: this.#redact(error), canRetry, response: null }
  }

  #redact(s: string): string {
    return this.#secrets.reduce((out, secret) => out.split(secret).join('***'), s)
  }
}

/** `<key@sluice>`: the key with everything but letters, digits, `-` and `_` written as `=XX` (UTF-8 bytes), so distinct keys stay distinct and the id is a valid RFC 5322 msg-id. */
function messageIdFor(idempotencyKey: string): string {
  const key = idempotencyKey === '' ? randomUUID() : idempotencyKey
  const safe = [...Buffer.from(key, 'utf8')].map((b) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')
  return `<${safe}@sluice>`
}

function replyCode(response: string): number | null {
  const m = /^([2-5]\d\d)\b/.exec(response)
  return m === null ? null : Number(m[1])
}

function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64')
}
