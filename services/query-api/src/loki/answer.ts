// The shapes Loki answers with: sample times and values as Prometheus prints them, matrices,
// the query statistics Grafana shows, and log lines grouped into streams.
import type { LogLine, Steps } from './compile.js'
import { labelKey } from './evaluate.js'
import type { Series } from './evaluate.js'

/** Unix seconds with millisecond precision, as Loki prints sample times. */
export const seconds = (ns: bigint) => Number(ns / 1_000_000n) / 1000

/** A sample value as Prometheus prints it. */
export function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

export function matrix(series: Series[], steps: Steps) {
  const startMs = Number(steps.startNs / 1_000_000n)
  const stepMs = Number(steps.stepNs / 1_000_000n)
  return series.map((s) => ({
    metric: s.metric,
    values: [...s.points].sort((a, b) => a[0] - b[0]).map(([i, v]) => [(startMs + i * stepMs) / 1000, num(v)]),
  }))
}

export function stats(lines: number, bytes: number, ms: number) {
  const execTime = ms / 1000
  return {
    summary: {
      bytesProcessedPerSecond: execTime > 0 ? Math.round(bytes / execTime) : 0,
      linesProcessedPerSecond: execTime > 0 ? Math.round(lines / execTime) : 0,
      totalBytesProcessed: bytes,
      totalLinesProcessed: lines,
      execTime,
      queueTime: 0,
      subqueries: 0,
      totalEntriesReturned: lines,
      splits: 0,
      shards: 0,
      totalPostFilterLines: lines,
      totalStructuredMetadataBytesProcessed: 0,
    },
  }
}

/** Rows as Loki streams: with categorize-labels, metadata and parsed labels ride on each entry. */
export function streams(rows: readonly LogLine[], categorize: boolean) {
  const out = new Map<string, { stream: Record<string, string>; values: unknown[][] }>()
  for (const r of rows) {
    const parsed: Record<string, string> = {}
    for (const [k, v] of Object.entries(r.parsed)) parsed[k in r.stream || k in r.meta ? `${k}_extracted` : k] = v
    const labels = categorize ? r.stream : { ...r.stream, ...r.meta, ...parsed }
    const key = labelKey(labels)
    let s = out.get(key)
    if (!s) out.set(key, (s = { stream: labels, values: [] }))
    if (!categorize) s.values.push([r.ts, r.line])
    else {
      const extra: Record<string, Record<string, string>> = {}
      if (Object.keys(r.meta).length) extra.structuredMetadata = r.meta
      if (Object.keys(parsed).length) extra.parsed = parsed
      s.values.push([r.ts, r.line, extra])
    }
  }
  return [...out.values()]
}
