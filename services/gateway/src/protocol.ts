// What every ingest protocol module gets: the configuration, the shared accept path (ingest.ts)
// and the tenant rule. A protocol only reads its wire format into records of Sluice's JSON shape
// (the fields `validateLogInput` in @sluice/core accepts) and writes its own response; validation,
// encoding, producing, backpressure, limits and the telemetry contract are the same for all of them.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import type { Security } from '@sluice/auth'
import type { HealthCheck, Registry } from '@sluice/observability'
import type { Config } from './config.js'
import type { Ingest } from './ingest.js'
import type { ListenerTls } from './tls.js'


export interface ProtocolContext {
  config: Config
  ingest: Ingest
  log: Logger
  /** The gateway's metrics (a protocol without replies, syslog, counts its drops here). */
  registry: Registry
  /** The gateway's readiness checks (Splunk HEC's health answers them too). */
  checks?: Record<string, HealthCheck> | undefined
  /** Keys, tenants' settings and the audit log (the runtime's); undefined: authentication off, no limits. */
  security?: Security | undefined
  /** The TLS listeners' certificate (tls.ts); undefined without GATEWAY_TLS_CERT_FILE. */
  tls?: ListenerTls | undefined
  /**
   * The request's tenant, the one rule of every door (@sluice/auth): the tenant named in the first
   * of `headers` that is set (default TENANT_HEADERS) if the request's key may act as it (403
   * otherwise), else the key's, else GATEWAY_DEFAULT_TENANT. With authentication off, the header's
   * or the default. Throws VALIDATION_FAILED naming the header when the value is not a valid tenant.
   */
  tenantOf(req: FastifyRequest, headers?: readonly string[]): string
}

export function tenantRule(config: Config): ProtocolContext['tenantOf'] {
  return (req, headers = TENANT_HEADERS) => req.access.tenant(requestedTenant(req, headers), config.defaultTenant)
}

/**
 * Drops the request's parsed body once `ctx.ingest.records` has been called: it reads and encodes
 * every record before it waits for Kafka, and record objects kept alive through that wait (the
 * request holds its body) are promoted by the garbage collector, which costs more than making
 * them did. Call it after starting `records(...)`, before awaiting it.
 */
export function releaseBody(req: FastifyRequest): void {
  ;(req as { body: unknown }).body = undefined
}

/**
 * An onSend hook that answers the shared error handler's errors ({error, message}, its status and
 * headers kept) in a protocol's own shape: `shape(status, message, req)` is the body. A body the
 * route already wrote in that shape (`own`) passes as it is.
 */
export function errorsShaped(shape: (status: number, message: string | undefined, req: FastifyRequest) => unknown, own: (body: object) => boolean) {
  return async (req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> => {
    if (reply.statusCode < 400 || typeof payload !== 'string') return payload
    let parsed: unknown
    try {
      parsed = JSON.parse(payload)
    } catch {
      return payload
    }
    if (typeof parsed !== 'object' || parsed === null || own(parsed)) return payload
    const message = (parsed as { message?: unknown }).message
    return JSON.stringify(shape(reply.statusCode, typeof message === 'string' ? message : undefined, req))
  }
}
