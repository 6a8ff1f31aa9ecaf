// The HTTP hardening of every service's server (SLUICE_HTTP_*, SLUICE_CORS_ORIGINS), parsed once
// per process with the other security settings and applied by createHttpApp
// (@sluice/observability). What each limit is against:
//   requestTimeoutMs   a slow client trickling a request's headers or body (slowloris) — the whole
//                      request must arrive within it (408 otherwise); WebSocket upgrades are done
//                      with their request once the headers are in, so live streams are not cut.
//   idleTimeoutMs      a connection with nothing moving either way (socket timeout).
//   keepAliveTimeoutMs how long an idle keep-alive connection is held for the next request; above
//                      the 60 s of common load balancers, so they close first.
//   maxHeaderBytes     all of a request's headers (431 beyond).
//   maxParamLength     one path parameter (404 beyond: no route matches); 256 fits an
//                      Elasticsearch index name, the longest id any route takes.
//   maxConnections     open sockets per server, so one noisy client cannot exhaust descriptors
//                      (connections beyond are closed at once).
//   corsOrigins        browser origins allowed to call the APIs; none by default (no CORS headers,
//                      so a browser keeps other sites' pages from reading answers).
import { z } from 'zod'
import { commaList, positiveInt } from '@sluice/config'

export interface HttpSettings {
  requestTimeoutMs: number
  idleTimeoutMs: number
  keepAliveTimeoutMs: number
  maxHeaderBytes: number
  maxParamLength: number
  maxConnections: number
  /** Allowed browser origins (`https://app.example.com`), or `*` for any; empty: CORS off. */
  corsOrigins: readonly string[]
}

export const DEFAULT_HTTP_SETTINGS: HttpSettings = Object.freeze({
  requestTimeoutMs: 60_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  maxHeaderBytes: 16_384,
  maxParamLength: 256,
  maxConnections: 10_000,
  corsOrigins: Object.freeze([]),
})

/** `*` or an origin as browsers send it: scheme, host and optional port, nothing after. */
function isOrigin(s: string): boolean {
  if (s === '*') return true
  try {
    return new URL(s).origin === s
  } catch {
    return false
  }
}

const d = DEFAULT_HTTP_SETTINGS
export const httpEnv = z.object({
  /** The whole request (headers and body) must arrive within this (408 otherwise). */
  SLUICE_HTTP_REQUEST_TIMEOUT_MS: positiveInt(d.requestTimeoutMs),
  /** A connection with no bytes moving for this long is closed. */
  SLUICE_HTTP_IDLE_TIMEOUT_MS: positiveInt(d.idleTimeoutMs),
  /** An idle keep-alive connection is held this long for its next request. */
  SLUICE_HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt(d.keepAliveTimeoutMs),
  /** All of a request's headers together (431 beyond). */
  SLUICE_HTTP_MAX_HEADER_BYTES: positiveInt(d.maxHeaderBytes),
  /** One path parameter's length (no route matches beyond: 404). */
  SLUICE_HTTP_MAX_PARAM_LENGTH: positiveInt(d.maxParamLength),
  /** Open connections per HTTP server (one per service); more are closed at once. */
  SLUICE_HTTP_MAX_CONNECTIONS: positiveInt(d.maxConnections),
  /** Browser origins allowed to call the APIs (comma-separated, or *); empty: no CORS. */
  SLUICE_CORS_ORIGINS: commaList().refine((a) => a.every(isOrigin), 'expected origins like https://app.example.com (scheme, host, port; no path), or *'),
})

export type HttpEnv = z.infer<typeof httpEnv>

/** The settings of parsed env values; a value left out (a caller building env by hand) keeps its default. */
export function httpSettingsFrom(e: Partial<HttpEnv>): HttpSettings {
  return Object.freeze({
    requestTimeoutMs: e.SLUICE_HTTP_REQUEST_TIMEOUT_MS ?? d.requestTimeoutMs,
    idleTimeoutMs: e.SLUICE_HTTP_IDLE_TIMEOUT_MS ?? d.idleTimeoutMs,
    keepAliveTimeoutMs: e.SLUICE_HTTP_KEEP_ALIVE_TIMEOUT_MS ?? d.keepAliveTimeoutMs,
    maxHeaderBytes: e.SLUICE_HTTP_MAX_HEADER_BYTES ?? d.maxHeaderBytes,
    maxParamLength: e.SLUICE_HTTP_MAX_PARAM_LENGTH ?? d.maxParamLength,
    maxConnections: e.SLUICE_HTTP_MAX_CONNECTIONS ?? d.maxConnections,
    corsOrigins: Object.freeze([...(e.SLUICE_CORS_ORIGINS ?? d.corsOrigins)]),
  })
}
