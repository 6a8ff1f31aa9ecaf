// @sluice/gateway — the HTTP front door: validated records to logs.raw, 2xx only once Kafka acknowledged them.
export { gateway } from './module.js'
export { buildApp, createService } from './service.js'
export type { GatewayDeps } from './service.js'
export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
