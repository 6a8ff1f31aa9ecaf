// What every ingest protocol module gets: the configuration, the shared accept path (ingest.ts)
// and the tenant rule. A protocol only reads its wire format into records of Sluice's JSON shape
// (the fields `validateLogInput` in @sluice/core accepts) and writes its own response; validation,
// encoding, producing, backpressure and the telemetry contract are the same for all of them.
import type { FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import type { Registry } from '@sluice/observability'
import { SluiceError, TENANT_PATTERN } from '@sluice/core'
import type { Config } from './config.js'
import type { Ingest } from './ingest.js'

export interface ProtocolContext {
  config: Config
  ingest: Ingest
  log: Logger
  /** The gateway's metrics (a protocol without replies, syslog, counts its drops here). */
  registry: Registry
  /**
   * The request's tenant: the first of `headers` that is set (default: `x-sluice-tenant`), else
   * GATEWAY_DEFAULT_TENANT. Throws VALIDATION_FAILED naming the header when the value is not a
   * valid tenant.
   */
  tenantOf(req: FastifyRequest, headers?: readonly string[]): string
}

export function tenantRule(config: Config): ProtocolContext['tenantOf'] {
  return (req, headers = ['x-sluice-tenant']) => {
    for (const name of headers) {
      const v = req.headers[name]
      if (typeof v !== 'string' || v === '') continue
      if (!TENANT_PATTERN.test(v)) throw new SluiceError('VALIDATION_FAILED', `header ${name}: expected 1-64 characters of A-Z a-z 0-9 _ . -`)
      return v
    }
    return config.defaultTenant
  }
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
