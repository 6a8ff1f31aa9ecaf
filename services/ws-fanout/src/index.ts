// @sluice/ws-fanout — live WebSocket fan-out of enriched logs, alerts and per-service stats.
export { createService } from './service.js'
export type { FanoutDeps } from './service.js'
export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
export { parseClientMessage, compileFilters, CHANNELS } from './protocol.js'
export type { ClientMessage, Filters, Channel } from './protocol.js'
export { mintToken, verifyToken } from './auth.js'
export type { TokenPayload } from './auth.js'
