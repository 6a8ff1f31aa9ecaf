// What every HTTP server does against hostile or careless clients, from the process's
// HttpSettings (@sluice/auth, SLUICE_HTTP_* and SLUICE_CORS_ORIGINS):
//   - server options: request, idle and keep-alive timeouts, header size, path parameter length,
//     open connections;
//   - security headers on every answer, errors and 404s included: the browser may not sniff types,
//     frame us, send our URLs as referrers or load our answers into another origin's page;
//   - a Content-Security-Policy: `default-src 'none'` for API answers (JSON is never a document),
//     one with the hashes of a page's inline blocks for HTML we serve (htmlCsp), Swagger UI's own;
//   - CORS closed unless origins are listed, preflights answered for those only;
//   - a body refused before it arrived (413 on its Content-Length) is refused so the client reads
//     the answer: no 100 Continue for it, and the connection closed gently (installEarlyRefusals).
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import cors from '@fastify/cors'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { DEFAULT_HTTP_SETTINGS } from '@sluice/auth'
import type { HttpSettings } from '@sluice/auth'

/** API answers are data, never documents: nothing may load from them, nothing may frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/**
 * Swagger UI (/docs): its bundle, stylesheets and initializer are files under /docs/static (no
 * inline script); it sets element styles from script (allowed: CSSOM is not inline style), adds
 * one <style> element of its own (allowed by its hash, which a new swagger-ui version may change:
 * test/e2e/browser-csp.e2e.test.ts names the new one) and draws icons as data: URIs; it fetches
 * the document and "Try it out" calls from this origin.
 */
const SWAGGER_UI_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
export const DOCS_CSP = `default-src 'none'; script-src 'self'; style-src 'self' ${SWAGGER_UI_STYLE}; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`

const INLINE = /<(script|style)(\s[^>]*)?>([\s\S]*?)<\/\1>/gi
const sha256 = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/**
 * A strict policy for one HTML page served by a service: its scripts and styles from this origin
 * only, inline `<script>`/`<style>` blocks allowed by their SHA-256 (so a change to the page keeps
 * its policy right, and injected markup does not run), WebSocket and fetch to this origin.
 */
export function htmlCsp(html: string): string {
  const scripts: string[] = []
  const styles: string[] = []
  for (const m of html.matchAll(INLINE)) {
    const [, tag, attrs = '', body = ''] = m
    if (tag!.toLowerCase() === 'script' && /\ssrc\s*=/i.test(attrs)) continue
    ;(tag!.toLowerCase() === 'script' ? scripts : styles).push(sha256(body))
  }
  return [
    "default-src 'none'",
    `script-src 'self'${scripts.map((h) => ` ${h}`).join('')}`,
    `style-src 'self'${styles.map((h) => ` ${h}`).join('')}`,
    "img-src 'self' data:",
    // 'self' covers ws: and wss: to the same host and port (CSP level 3).
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ')
}

/** Fastify's options for the settings: timeouts, header and parameter limits. */
export function serverOptions(s: HttpSettings): Pick<FastifyServerOptions, 'requestTimeout' | 'connectionTimeout' | 'keepAliveTimeout' | 'routerOptions'> & { http: { maxHeaderSize: number; connectionsCheckingInterval: number } } {
  return {
    requestTimeout: s.requestTimeoutMs,
    connectionTimeout: s.idleTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    routerOptions: { maxParamLength: s.maxParamLength },
    // Node checks request deadlines every 30 s by default: a 60 s timeout could run to 90 s.
    http: { maxHeaderSize: s.maxHeaderBytes, connectionsCheckingInterval: Math.max(50, Math.min(30_000, Math.floor(s.requestTimeoutMs / 4))) },
  }
}

const DOCS = /^\/docs(?:[/?]|$)/
const ALLOWED_HEADERS = ['Authorization', 'X-API-Key', 'X-Scope-OrgID', 'X-Sluice-Tenant', 'Content-Type', 'Content-Encoding']
const EXPOSED_HEADERS = ['Retry-After', 'WWW-Authenticate']

function originRule(origins: readonly string[]): (origin: string | undefined) => boolean {
  if (origins.includes('*')) return (o) => o !== undefined
  const set = new Set(origins)
  return (o) => o !== undefined && set.has(o)
}

function setSecurityHeaders(reply: FastifyReply, crossOrigin: boolean): void {
  reply.header('x-content-type-options', 'nosniff')
  reply.header('referrer-policy', 'no-referrer')
  reply.header('x-frame-options', 'DENY')
  reply.header('cross-origin-resource-policy', crossOrigin ? 'cross-origin' : 'same-origin')
  reply.header('content-security-policy', API_CSP)
}

/**
 * Applies the settings to `app` (call before any other hook, so refusals carry the headers too):
 * the connection limit, security headers, CORS.
 */
export function installHardening(app: FastifyInstance, settings: HttpSettings = DEFAULT_HTTP_SETTINGS): void {
  app.server.maxConnections = settings.maxConnections
  const allowed = originRule(settings.corsOrigins)
  // Set before the handler runs, so a route (the live page, Swagger UI) can put its own policy.
  app.addHook('onRequest', async (req, reply) => {
    setSecurityHeaders(reply, allowed(req.headers.origin))
    if (DOCS.test(req.url)) reply.header('content-security-policy', DOCS_CSP)
  })
  if (settings.corsOrigins.length === 0) return
  void app.register(cors, {
    origin: (origin, cb) => cb(null, allowed(origin) ? origin! : false),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    // Keys travel in headers the page sets, never in cookies: no credentials mode.
    credentials: false,
    maxAge: 600,
    strictPreflight: true,
  })
}

/**
 * Fastify's own answers for URLs it cannot route (bad percent-encoding, an over-long path
 * parameter): the same error shape and headers as every other answer.
 */
export function frameworkErrors(error: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  setSecurityHeaders(reply, false)
  const status = error.statusCode ?? 500
  if (status >= 500) void reply.code(500).send({ error: 'INTERNAL', message: 'internal error' })
  else void reply.code(status).send({ error: error.code ?? 'BAD_REQUEST', message: error.message })
}

/** How long a connection refused mid-body is still read (and the rest discarded) before it is destroyed. */
export const REFUSED_BODY_DRAIN_MS = 5_000
/** How much of a refused body is read and discarded at most, before the connection is destroyed. */
export const REFUSED_BODY_DRAIN_BYTES = 64 * 1024 * 1024
const DRAIN_CHECK_MS = 100

/**
 * A refused body's connection, closed so that the client reads the answer: the request stops
 * feeding whatever read it, the answer is followed by a FIN (the client may still send), the rest
 * of the body is read and discarded until the client closes too, for at most
 * REFUSED_BODY_DRAIN_MS and REFUSED_BODY_DRAIN_BYTES, then the socket is destroyed.
 */
function drainThenDestroy(socket: Socket, req: IncomingMessage): void {
  if (socket.destroyed) return
  // Node's parser goes on reading the body into the request; nothing keeps it (a decompressor
  // fed by it would work for nothing).
  req.unpipe()
  req.resume()
  socket.end()
  const from = socket.bytesRead
  const deadline = Date.now() + REFUSED_BODY_DRAIN_MS
  const check = setInterval(() => {
    if (Date.now() >= deadline || socket.bytesRead - from > REFUSED_BODY_DRAIN_BYTES) socket.destroy()
  }, DRAIN_CHECK_MS).unref()
  socket.once('close', () => clearInterval(check))
  // The client has sent everything and closed its side: nothing is left to lose.
  socket.once('end', () => socket.destroy())
}

const CLOSES = /(?:^|,)\s*close\s*(?:,|$)/i

/**
 * Refusals of a body that is still on its way, so the client reads them instead of a reset.
 *
 * fastify refuses a body over the limit on its Content-Length, before reading it, and closes the
 * connection; Node then destroys the socket with the client still sending, and a TCP socket
 * closed with unread data answers with a reset, which makes the client's kernel drop the 413 it
 * had not read yet: the client sees EPIPE or ECONNRESET, which OTLP and Loki clients retry
 * forever. So an answer that closes the connection (fastify's `connection: close`, any 413) while
 * the body is arriving ends the connection gently (drainThenDestroy) rather than at once.
 *
 * `Expect: 100-continue` (curl, the .NET and Java clients for large bodies): Node would send
 * 100 Continue for every request, also for a body that is going to be refused. A body announced
 * over the limit gets no 100: the request goes to its route, whose body parser refuses it on its
 * Content-Length, so the 413 has the route's own error shape (OTLP's Status, Elasticsearch's
 * error, Loki's text). Every other request gets its 100 at once, as Node would send it.
 */
export function installEarlyRefusals(app: FastifyInstance, bodyLimitBytes: number): void {
  const server = app.server
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!(Number(req.headers['content-length']) > bodyLimitBytes)) res.writeContinue()
    server.emit('request', req, res)
  })
  app.addHook('onSend', async (req, reply, payload) => {
    const raw = req.raw
    if (raw.complete || (reply.statusCode !== 413 && !CLOSES.test(String(reply.getHeader('connection') ?? '')))) return payload
    reply.header('connection', 'close')
    // Node ends a connection whose answer said `close` with destroySoon once the answer is
    // written: this connection's ends gently instead.
    const socket = raw.socket
    socket.destroySoon = () => drainThenDestroy(socket, raw)
    return payload
  })
}
