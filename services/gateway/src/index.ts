// @sluice/gateway — the HTTP front door: validated records to logs.raw, 2xx only once Kafka acknowledged them.
export { gateway } from './module.js'
export { buildApp, createService, protocolContext } from './service.js'
export type { GatewayDeps } from './service.js'
export { createIngest, SKIP } from './ingest.js'
export type { Ingest, IngestDefaults, Ingested } from './ingest.js'
export type { ProtocolContext } from './protocol.js'
export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
