// Prometheus metrics. Each process owns one Registry and passes it to libs and services; helpers
// here get-or-create so a service built twice on one registry (tests, restarts) does not throw.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { MetricObjectWithValues, MetricValue } from 'prom-client'

export { Registry }
export type { Counter, Gauge, Histogram }

export function createRegistry(opts: { defaultMetrics?: boolean } = {}): Registry {
  const registry = new Registry()
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry })
  return registry
}

type Labels<T extends string> = readonly T[]

export function counter<T extends string = never>(registry: Registry, name: string, help: string, labelNames: Labels<T> = []): Counter<T> {
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Counter<T>
  return new Counter<T>({ name, help, labelNames: [...labelNames], registers: [registry] })
}

export function gauge<T extends string = never>(registry: Registry, name: string, help: string, labelNames: Labels<T> = []): Gauge<T> {
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Gauge<T>
  return new Gauge<T>({ name, help, labelNames: [...labelNames], registers: [registry] })
}

export function histogram<T extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  buckets: number[],
  labelNames: Labels<T> = [],
): Histogram<T> {
  const existing = registry.getSingleMetric(name)
  if (existing) return existing as Histogram<T>
  return new Histogram<T>({ name, help, buckets, labelNames: [...labelNames], registers: [registry] })
}

/** Latency buckets in seconds, from 1 ms to 30 s. */
export const LATENCY_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** Batch-size buckets in records. */
export const BATCH_SIZE_BUCKETS = [1, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000, 100_000]

/**
 * The telemetry contract of a pipeline stage: received, sent, dropped{reason}, errors{code}.
 * Labels stay low-cardinality: reasons and codes are closed lists chosen by the stage.
 */
export interface StageMetrics {
  received: Counter<never>
  sent: Counter<never>
  dropped: Counter<'reason'>
  errors: Counter<'code'>
}

export function stageMetrics(registry: Registry, stage: string): StageMetrics {
  const p = `sluice_${stage.replace(/-/g, '_')}_events`
  return {
    received: counter(registry, `${p}_received_total`, `Events received by the ${stage} stage.`),
    sent: counter(registry, `${p}_sent_total`, `Events the ${stage} stage handed on durably.`),
    dropped: counter(registry, `${p}_dropped_total`, `Events the ${stage} stage dropped or rejected, by reason.`, ['reason']),
    errors: counter(registry, `${p}_errors_total`, `Errors in the ${stage} stage, by code.`, ['code']),
  }
}

/** Metrics kept elsewhere (another thread's registry), as `registry.getMetricsAsJSON()` gives them. */
export type MetricsSource = () => Promise<MetricObjectWithValues<MetricValue<string>>[]>

const sources = new WeakMap<Registry, MetricsSource[]>()

/** Adds `source` to what `registry` exposes; returns the function that removes it again. */
export function addMetricsSource(registry: Registry, source: MetricsSource): () => void {
  const list = sources.get(registry) ?? []
  list.push(source)
  sources.set(registry, list)
  return () => {
    const i = list.indexOf(source)
    if (i >= 0) list.splice(i, 1)
  }
}

/**
 * The registry in the Prometheus text format, with its sources merged in (prom-client's
 * aggregation: counters and histograms summed, gauges by their `aggregator`).
 */
export async function metricsText(registry: Registry): Promise<string> {
  const extra = sources.get(registry) ?? []
  if (extra.length === 0) return registry.metrics()
  const all = await Promise.all([registry.getMetricsAsJSON(), ...extra.map((s) => s())])
  return AggregatorRegistry.aggregate(all).metrics()
}
