// Reads a service's Prometheus /metrics so the bench can say where time went inside it (produce
// latency, flush sizes, insert time) without instrumenting the code. Samples are summed over
// their label sets; scraping before and after a window and subtracting gives that window alone.

export type Samples = Record<string, number>

/** `name{labels} value` lines → both `name` (summed over label sets) and `name{labels}`. */
export function parseMetrics(text: string): Samples {
  const out: Samples = {}
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line)
    if (!m) continue
    const v = Number(m[3])
    if (!Number.isFinite(v)) continue
    out[m[1]!] = (out[m[1]!] ?? 0) + v
    if (m[2]) out[`${m[1]}${m[2]}`] = v
  }
  return out
}

export async function scrape(baseUrl: string): Promise<Samples> {
  try {
    const res = await fetch(new URL('/metrics', baseUrl), { signal: AbortSignal.timeout(5000) })
    return res.ok ? parseMetrics(await res.text()) : {}
  } catch {
    // Telemetry is a bonus here; a failed scrape must not fail the benchmark.
    return {}
  }
}

/**
 * Mean of a histogram over the window between two scrapes (`_sum` / `_count`); `labels` picks
 * one label set, exactly as exposed (e.g. `{stage="clickhouse-sink"}`), else all are summed.
 */
export function histogramMean(before: Samples, after: Samples, name: string, labels = ''): number | undefined {
  const count = histogramCount(before, after, name, labels)
  return count > 0 ? histogramSum(before, after, name, labels) / count : undefined
}

/** What a histogram's observations added up to between two scrapes (seconds, for a duration). */
export function histogramSum(before: Samples, after: Samples, name: string, labels = ''): number {
  return (after[`${name}_sum${labels}`] ?? 0) - (before[`${name}_sum${labels}`] ?? 0)
}

export function histogramCount(before: Samples, after: Samples, name: string, labels = ''): number {
  return (after[`${name}_count${labels}`] ?? 0) - (before[`${name}_count${labels}`] ?? 0)
}

/**
 * Quantile `q` (0–1) of a histogram over the window between two scrapes, from its cumulative
 * buckets (linear within the bucket it falls in, as Prometheus's histogram_quantile does).
 */
export function histogramQuantile(before: Samples, after: Samples, name: string, q: number): number | undefined {
  const bounds: Array<[number, number]> = []
  for (const key of Object.keys(after)) {
    const m = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\}$`).exec(key)
    if (!m) continue
    bounds.push([m[1] === '+Inf' ? Infinity : Number(m[1]), after[key]! - (before[key] ?? 0)])
  }
  bounds.sort((a, b) => a[0] - b[0])
  const total = bounds.at(-1)?.[1] ?? 0
  if (total === 0) return undefined
  const rank = q * total
  let prevBound = 0
  let prevCount = 0
  for (const [le, count] of bounds) {
    if (count >= rank) {
      if (le === Infinity) return prevBound
      return prevBound + ((le - prevBound) * (rank - prevCount)) / Math.max(1, count - prevCount)
    }
    prevBound = le
    prevCount = count
  }
  return prevBound
}

/** Label set of the sink's consumer-runner metrics (the enricher's share the metric names). */
export const SINK_STAGE = '{stage="clickhouse-sink"}'

/** Sluice's own series and the event-loop lag, for results.json (the default metrics are noise). */
export function pickSluice(samples: Samples): Samples {
  return Object.fromEntries(
    Object.entries(samples).filter(([k]) => (k.startsWith('sluice_') && !k.includes('_bucket')) || k.startsWith('nodejs_eventloop_lag') || k === 'process_cpu_seconds_total'),
  )
}
