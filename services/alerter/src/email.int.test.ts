// EmailSender through real nodemailer against a real SMTP server (aiosmtpd, test/smtp/): delivery
// with AUTH, the three security modes, certificate checks, and how each failure maps to an outcome
// (reply code, canRetry). The server parses what arrived with Python's email package, so the
// assertions do not rest on nodemailer reading its own output. Needs no Kafka.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, onTestFinished } from 'vitest'
import { EmailSender, renderAlertEmail } from './email.js'
import type { EmailSettings, SmtpSettings } from './email.js'
import { alertToJson } from './notify.js'
import { alertFixture } from '../../../test/infra/alerts.js'
import { selfSignedCert, startSmtpReceiver } from '../../../test/smtp/receiver.js'

const USER = 'alerts@example.test'
const PASSWORD = 'smtp-test-password'
const FROM = 'Sluice <sluice@example.test>'
const TO = ['oncall@example.test', 'team@example.test']
const message = renderAlertEmail([alertToJson(alertFixture({ id: 'fp-1', version: 3, summary: 'Summary with <b>markup</b> & "quotes"' }))])

/** A sender closed when the test finishes. */
function sender(smtp: Partial<SmtpSettings> & { port: number }, over: Partial<EmailSettings> = {}, timeoutMs = 10_000): EmailSender {
  const s = new EmailSender({ smtp: { host: '127.0.0.1', security: 'none', verifyCertificate: true, ...smtp }, from: FROM, to: TO, ...over }, { timeoutMs })
  onTestFinished(() => s.close())
  return s
}

/** A TCP port nothing listens on: bound once by the kernel, then released. */
async function closedPort(): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Accepts connections and never says a word, as a hung relay does. */
async function silentServer(): Promise<number> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((s) => sockets.add(s))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  onTestFinished(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

describe('EmailSender delivery', () => {
  it('delivers text and HTML parts with AUTH over plain SMTP', async () => {
    const smtp = await startSmtpReceiver({ auth: { user: USER, password: PASSWORD } })
    const outcome = await sender({ port: smtp.port, user: USER, password: PASSWORD }).send(message, 'fp-1:3')
    expect(outcome).toEqual({ ok: true, code: 250, error: null, canRetry: false, response: expect.stringMatching(/^250 /) })

    const [mail] = await smtp.waitFor(1)
    expect(mail!.mail_from).toBe('sluice@example.test')
    expect(mail!.rcpt_tos).toEqual(TO)
    expect(mail!.auth_user).toBe(USER)
    expect(mail!.tls).toBe(false)
    expect(mail!.headers.from).toBe(FROM)
    expect(mail!.headers.to).toBe(TO.join(', '))
    expect(mail!.subject).toBe('[FIRING] Checkout error rate — acme/checkout')
    // The key's ':' is not allowed in a msg-id; it is written as =3A.
    expect(mail!.message_id).toBe('<fp-1=3A3@sluice>')
    expect(mail!.text).toBe(message.text)
    expect(mail!.text).toContain('Summary with <b>markup</b> & "quotes"')
    expect(mail!.html).toBe(message.html)
    expect(mail!.html).toContain('Summary with &lt;b&gt;markup&lt;/b&gt; &amp; &quot;quotes&quot;')
    expect(mail!.headers['content-type']).toMatch(/^multipart\/alternative;/)
    expect(mail!.data).not.toContain(PASSWORD)
  })

  it('gives distinct keys distinct Message-IDs and keeps non-ASCII subjects intact', async () => {
    const smtp = await startSmtpReceiver()
    const s = sender({ port: smtp.port })
    const subject = 'Größe überschritten — 東京/checkout'
    expect((await s.send({ ...message, subject }, 'a:1')).ok).toBe(true)
    expect((await s.send(message, 'a-1')).ok).toBe(true)
    expect((await s.send(message, 'ä <x>')).ok).toBe(true)
    const mails = await smtp.waitFor(3)
    expect(mails.map((m) => m.message_id)).toEqual(['<a=3A1@sluice>', '<a-1@sluice>', '<=C3=A4=20=3Cx=3E@sluice>'])
    expect(mails[0]!.subject).toBe(subject)
  })

  it("never upgrades with security 'none', even when the server offers STARTTLS", async () => {
    const smtp = await startSmtpReceiver({ starttls: await selfSignedCert() })
    expect((await sender({ port: smtp.port }).send(message, 'k')).ok).toBe(true)
    expect((await smtp.waitFor(1))[0]!.tls).toBe(false)
  })

  it("upgrades with STARTTLS before AUTH when security is 'starttls'", async () => {
    const smtp = await startSmtpReceiver({ auth: { user: USER, password: PASSWORD }, starttls: await selfSignedCert() })
    const outcome = await sender({ port: smtp.port, security: 'starttls', user: USER, password: PASSWORD, verifyCertificate: false }).send(message, 'k')
    expect(outcome.ok).toBe(true)
    const [mail] = await smtp.waitFor(1)
    expect(mail!.tls).toBe(true)
    expect(mail!.auth_user).toBe(USER)
    expect(mail!.subject).toBe(message.subject)
  })

  it("speaks TLS from the first byte when security is 'tls'", async () => {
    const smtp = await startSmtpReceiver({ auth: { user: USER, password: PASSWORD }, tls: await selfSignedCert() })
    const outcome = await sender({ port: smtp.port, security: 'tls', user: USER, password: PASSWORD, verifyCertificate: false }).send(message, 'k')
    expect(outcome.ok).toBe(true)
    const [mail] = await smtp.waitFor(1)
    expect(mail!.tls).toBe(true)
    expect(mail!.auth_user).toBe(USER)
  })

  it('reports recipients the server refused while it took the others', async () => {
    const smtp = await startSmtpReceiver({ failFirst: { count: 1, code: 550, at: 'rcpt' } })
    const outcome = await sender({ port: smtp.port }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: true, code: 250, canRetry: false })
    expect(outcome.error).toBe('recipients rejected: oncall@example.test')
    expect((await smtp.waitFor(1))[0]!.rcpt_tos).toEqual(['team@example.test'])
  })
})

describe('EmailSender failures', () => {
  it('rejects a self-signed certificate when verification is on, as a final error', async () => {
    const smtp = await startSmtpReceiver({ starttls: await selfSignedCert() })
    const outcome = await sender({ port: smtp.port, security: 'starttls', verifyCertificate: true }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: null, canRetry: false, response: null })
    expect(outcome.error).toMatch(/^TLS certificate rejected: .*self[- ]signed/i)
    expect(smtp.messages).toEqual([])
  })

  it("fails when security is 'starttls' and the server does not offer it", async () => {
    const smtp = await startSmtpReceiver()
    const outcome = await sender({ port: smtp.port, security: 'starttls', verifyCertificate: false }).send(message, 'k')
    // aiosmtpd answers STARTTLS with 454 "TLS not available", a temporary reply: retryable, as every 4xx.
    expect(outcome).toMatchObject({ ok: false, code: 454, canRetry: true, response: null })
    expect(outcome.error).toBe('STARTTLS refused: 454 TLS not available')
    expect(smtp.messages).toEqual([])
  })

  it('reports a wrong password as a final authentication failure without the password', async () => {
    const smtp = await startSmtpReceiver({ auth: { user: USER, password: PASSWORD } })
    const wrong = 'not-the-password-1234'
    const outcome = await sender({ port: smtp.port, user: USER, password: wrong }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: 535, canRetry: false, response: null })
    expect(outcome.error).toMatch(/^authentication failed: 535\b/)
    expect(outcome.error).not.toContain(wrong)
    expect(outcome.error).not.toContain(Buffer.from(wrong).toString('base64'))
    expect(smtp.messages).toEqual([])
  })

  it('marks a 451 at the end of DATA retryable, and the retry delivers the same Message-ID', async () => {
    const smtp = await startSmtpReceiver({ failFirst: { count: 1, code: 451 } })
    const s = sender({ port: smtp.port })
    const first = await s.send(message, 'fp-1:3')
    expect(first).toMatchObject({ ok: false, code: 451, canRetry: true, response: null })
    expect(first.error).toMatch(/^server refused: 451 4\.3\.0 Temporary failure/)
    expect(smtp.messages).toEqual([])
    const second = await s.send(message, 'fp-1:3')
    expect(second).toMatchObject({ ok: true, code: 250 })
    expect((await smtp.waitFor(1))[0]!.message_id).toBe('<fp-1=3A3@sluice>')
  })

  it('marks a 550 at the end of DATA final', async () => {
    const smtp = await startSmtpReceiver({ failFirst: { count: 1, code: 550 } })
    const outcome = await sender({ port: smtp.port }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: 550, canRetry: false, response: null })
    expect(outcome.error).toMatch(/^server refused: 550 5\.7\.1 Rejected/)
  })

  it('marks a 451 for every recipient retryable', async () => {
    const smtp = await startSmtpReceiver({ failFirst: { count: 2, code: 451, at: 'rcpt' } })
    const outcome = await sender({ port: smtp.port }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: 451, canRetry: true })
    expect(outcome.error).toMatch(/^recipient or sender rejected: .*451/)
    expect(smtp.messages).toEqual([])
  })

  it('marks a refused connection retryable, without a reply code', async () => {
    const outcome = await sender({ port: await closedPort() }).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: null, canRetry: true, response: null })
    expect(outcome.error).toMatch(/ECONNREFUSED/)
  })

  it('gives up on a server that never greets after timeoutMs, retryable', async () => {
    const t0 = performance.now()
    const outcome = await sender({ port: await silentServer() }, {}, 500).send(message, 'k')
    expect(outcome).toMatchObject({ ok: false, code: null, canRetry: true, response: null })
    expect(outcome.error).toMatch(/^timed out after 500 ms/)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(450)
  })
})
