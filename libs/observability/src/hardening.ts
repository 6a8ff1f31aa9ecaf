// What every HTTP server does against hostile or careless clients, from the process's
// HttpSettings (@sluice/auth, SLUICE_HTTP_* and SLUICE_CORS_ORIGINS):
//   - server options: request, idle and keep-alive timeouts, header size, path parameter length,
//     open connections;
//   - security headers on every answer, errors and 404s included: the browser may not sniff types,
//     frame us, send our URLs as referrers or load our answers into another origin's page;
//   - a Content-Security-Policy: `default-src 'none'` for API answers (JSON is never a document),
//     one with the hashes of a page's inline blocks for HTML we serve (htmlCsp), Swagger UI's own;
//   - CORS closed unless origins are listed, preflights answered for those only.
import { createHash } from 'node:crypto'
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
