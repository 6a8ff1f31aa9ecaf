// A real SMTP server for tests that send email: smtp_server.py (aiosmtpd, Python) in a child process,
// reporting each message it accepts, parsed by Python's own email package. An implementation
// independent of the sender's library, so a test cannot pass by agreeing with itself.
// aiosmtpd is installed into a virtualenv under .cache/ on first use (test/infra/python.ts).
// The factories register their own cleanup, so call them inside a test.
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { onTestFinished } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'

const run = promisify(execFile)
const HERE = path.join(REPO_ROOT, 'test/smtp')
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 5_000

/** The venv's python with aiosmtpd. */
export const setupSmtpPython = () => pythonVenv('smtp', 'test/smtp/requirements.txt')

/** One message the server accepted (smtp_server.py's line, field names as printed). */
export interface ReceivedMail {
  /** Envelope sender (MAIL FROM). */
  mail_from: string
  /** Envelope recipients the server accepted (RCPT TO). */
  rcpt_tos: string[]
  /** The raw message as sent (after the DATA command), CRLF line ends. */
  data: string
  /** The login of a successful AUTH, null without one. */
  auth_user: string | null
  /** Whether the message came over TLS (STARTTLS or implicit). */
  tls: boolean
  /** Header values decoded (RFC 2047 words and folding undone), by lower-cased name; the first of repeated headers. */
  headers: Record<string, string>
  subject: string | null
  message_id: string | null
  /** The decoded text/plain body with LF line ends, null when the message has none. */
  text: string | null
  /** The decoded text/html body with LF line ends, null when the message has none. */
  html: string | null
}

export interface SmtpReceiverOptions {
  /** Offer AUTH PLAIN/LOGIN with this account and require it before MAIL. */
  auth?: { user: string; password: string }
  /** Offer STARTTLS with this certificate; with auth, AUTH is refused before the upgrade. */
  starttls?: TlsFiles
  /** Implicit TLS from the first byte, as on port 465. */
  tls?: TlsFiles
  /** Answer the first `count` commands of `at` (default the end of DATA) with `code`. */
  failFirst?: { count: number; code: number; at?: 'rcpt' | 'data' }
}

export interface TlsFiles {
  certFile: string
  keyFile: string
}

export interface SmtpReceiver {
  port: number
  /** Messages accepted so far, in arrival order; grows while the server runs. */
  messages: ReceivedMail[]
  /** Resolves with the messages once at least n arrived; rejects after timeoutMs or when the server died. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMail[]>
  close(): Promise<void>
}

/** Starts smtp_server.py on a free port of 127.0.0.1; it is stopped when the test finishes. */
export async function startSmtpReceiver(opts: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const args = [path.join(HERE, 'smtp_server.py'), '0']
  if (opts.auth) args.push('--auth', `${opts.auth.user}:${opts.auth.password}`)
  if (opts.starttls) args.push('--starttls', opts.starttls.certFile, opts.starttls.keyFile)
  if (opts.tls) args.push('--tls', opts.tls.certFile, opts.tls.keyFile)
  if (opts.failFirst) args.push('--fail-first', String(opts.failFirst.count), String(opts.failFirst.code), '--fail-at', opts.failFirst.at ?? 'data')

  // stdin stays open: the server stops when it closes, so it cannot outlive this process.
  const child = spawn(await setupSmtpPython(), args, { stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)))
  const died = (what: string) => new Error(`smtp_server.py ${what}; stderr: ${stderr.trim() || '(empty)'}`)

  const messages: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  let alive = true
  let onReady: (port: number) => void = () => undefined
  const ready = new Promise<number>((resolve) => (onReady = resolve))
  createInterface({ input: child.stdout }).on('line', (line) => {
    let parsed: { ready?: boolean; port?: number } & Partial<ReceivedMail>
    try {
      parsed = JSON.parse(line) as typeof parsed
    } catch {
      stderr += `\n(unexpected stdout line) ${line}`
      return
    }
    if (parsed.ready === true) onReady(parsed.port!)
    else messages.push(parsed as ReceivedMail)
    for (const w of waiters) w()
  })
  void exited.then(() => {
    alive = false
    for (const w of waiters) w()
  })

  const close = async (): Promise<void> => {
    if (!alive) return
    child.stdin.end()
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
  onTestFinished(close)

  let readyTimer: NodeJS.Timeout | undefined
  const port = await Promise.race([
    ready,
    exited.then((code) => Promise.reject(died(`exited with ${code} before it was ready`))),
    new Promise<never>((_, reject) => (readyTimer = setTimeout(() => reject(died(`not ready after ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS))),
  ]).finally(() => clearTimeout(readyTimer))

  const waitFor = (n: number, timeoutMs = 10_000): Promise<ReceivedMail[]> =>
    new Promise((resolve, reject) => {
      const check = () => {
        if (messages.length >= n) finish(() => resolve(messages.slice()))
        else if (!alive) finish(() => reject(died(`exited after ${messages.length} of ${n} messages`)))
      }
      const timer = setTimeout(() => finish(() => reject(new Error(`${messages.length} of ${n} messages after ${timeoutMs} ms`))), timeoutMs)
      const finish = (settle: () => void) => {
        clearTimeout(timer)
        waiters.delete(check)
        settle()
      }
      waiters.add(check)
      check()
    })

  return { port, messages, waitFor, close }
}

/** A self-signed certificate for CN=localhost (openssl CLI) in a temp dir removed when the test finishes. */
export async function selfSignedCert(): Promise<TlsFiles> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-smtp-cert-'))
  onTestFinished(() => rm(dir, { recursive: true, force: true }))
  const certFile = path.join(dir, 'cert.pem')
  const keyFile = path.join(dir, 'key.pem')
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1', '-keyout', keyFile, '-out', certFile], { timeout: 60_000 })
  return { certFile, keyFile }
}
