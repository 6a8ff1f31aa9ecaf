// @sluice/observability — logging, metrics and health endpoints.
export { createLogger } from './logger.js'
export type { Logger } from './logger.js'
export {
  Registry,
  createRegistry,
  counter,
  gauge,
  histogram,
  stageMetrics,
  addMetricsSource,
  metricsText,
  LATENCY_BUCKETS_SECONDS,
  BATCH_SIZE_BUCKETS,
} from './metrics.js'
export type { StageMetrics, Counter, Gauge, Histogram, MetricsSource } from './metrics.js'
export { createHttpApp, registerOpsRoutes, registerErrorHandler, runHealthChecks, RETRY_AFTER_SECONDS } from './http.js'
export type { HealthCheck, HealthReport, HttpAppOptions } from './http.js'
