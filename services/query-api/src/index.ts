// @sluice/query-api — read access to stored logs and alerts.
export { queryApi } from './module.js'
export { buildApp, createService } from './service.js'
export type { QueryDeps } from './service.js'
export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
