// The shapes Loki answers with: sample times and values as Prometheus prints them, matrices,
// the query statistics Grafana shows, and log lines grouped into streams.
import { stepCount } from './compile.js'
import type { LogLine, Steps } from './compile.js'
import type { Labels } from './output.js'
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

/**
 * Step i's time as JSON prints `(startMs + i·stepMs) / 1000`, the way Loki prints sample times.
 * With a step of whole seconds (every Grafana step) it is written from integers — the whole
 * seconds, then the start's millisecond fraction — rather than printed as a float per point.
 */
function stepTimes(steps: Steps): (i: number) => string {
  const startMs = Number(steps.startNs / 1_000_000n)
  const stepMs = Number(steps.stepNs / 1_000_000n)
  const count = stepCount(steps)
  if (stepMs % 1000 !== 0 || startMs < 0 || (startMs + (count - 1) * stepMs) / 1000 >= 1e15) return (i) => String((startMs + i * stepMs) / 1000)
  const whole = Math.floor(startMs / 1000)
  const ms = startMs % 1000
  const fraction = ms === 0 ? '' : `.${String(ms).padStart(3, '0').replace(/0+$/, '')}`
  const times = Array.from({ length: count }, (_, i) => `${whole + i * (stepMs / 1000)}${fraction}`)
  return (i) => times[i] ?? String((startMs + i * stepMs) / 1000)
}

/** What an answer written as JSON text is sent as (fastify's own type for the objects it serialises). */
export const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * A range query's answer, `{"status":"success","data":{"resultType":"matrix",…}}`, as JSON text.
 * Written directly: a day at one-minute steps is ~1 500 points per series, and JSON.stringify of
 * the [time, "value"] pairs spends most of its time printing each time as a float (stepTimes).
 */
export function matrixBody(series: readonly Series[], steps: Steps, statistics: object): string {
  const timeOf = stepTimes(steps)
  // One string grown piece by piece: half the time of an array of pieces joined per series.
  let out = '{"status":"success","data":{"resultType":"matrix","result":['
  for (let n = 0; n < series.length; n++) {
    const points = series[n]!.points
    // Step indexes are small non-negative integers: a typed array sorts them without a comparator
    // (filled by a loop: Uint32Array.from over the map's iterator costs as much as the rest).
    const at = new Uint32Array(points.size)
    let count = 0
    for (const i of points.keys()) at[count++] = i
    at.sort()
    out += `${n ? ',' : ''}{"metric":${JSON.stringify(series[n]!.metric)},"values":[`
    for (let k = 0; k < count; k++) {
      const i = at[k]!
      out += `${k ? ',' : ''}[${timeOf(i)},"${num(points.get(i)!)}"]`
    }
    out += ']}'
  }
  return `${out}],"stats":${JSON.stringify(statistics)}}}`
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

/** FNV-1a of one label, its name and value apart: a set's hash is the sum over its labels, whatever their order. */
function labelHash(k: string, v: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k.charCodeAt(i), 0x01000193)
  h = Math.imul(h ^ 0x10000, 0x01000193)
  for (let i = 0; i < v.length; i++) h = Math.imul(h ^ v.charCodeAt(i), 0x01000193)
  return h
}

/** Whether `b` holds exactly the `size` labels of `a`. */
function sameLabels(a: Labels, size: number, b: Labels): boolean {
  let n = 0
  for (const k in b) {
    if (a[k] !== b[k]) return false
    n++
  }
  return n === size
}

/** `{ ...a, ...b, ...c }`, copied key by key: object spread costs ~10× more on these label sets. */
function merged(a: Labels, b: Labels, c: Labels): Labels {
  const out: Labels = {}
  for (const k in a) out[k] = a[k]!
  for (const k in b) out[k] = b[k]!
  for (const k in c) out[k] = c[k]!
  return out
}

/** The parsed labels as answered: one a stream label or metadata already names becomes `<name>_extracted`. */
function renamed(r: LogLine): Labels {
  for (const k in r.parsed) {
    if (!(k in r.stream || k in r.meta)) continue
    const out: Labels = {}
    for (const n in r.parsed) out[n in r.stream || n in r.meta ? `${n}_extracted` : n] = r.parsed[n]!
    return out
  }
  return r.parsed
}

/**
 * Rows as Loki streams: with categorize-labels, metadata and parsed labels ride on each entry.
 * Lines of one label set form one stream, found by an order-free hash of the set and then
 * compared label by label: a key of the sorted labels, made for every line, cost ~3× more.
 */
export function streams(rows: readonly LogLine[], categorize: boolean) {
  const out: { stream: Labels; values: unknown[][] }[] = []
  /** Label count of each stream of `out`, and the streams (their places in `out`) by hash. */
  const sizes: number[] = []
  const byHash = new Map<number, number[]>()
  for (const r of rows) {
    const parsed = renamed(r)
    const labels = categorize ? r.stream : merged(r.stream, r.meta, parsed)
    let h = 0
    let size = 0
    for (const k in labels) {
      h = (h + labelHash(k, labels[k]!)) | 0
      size++
    }
    const same = byHash.get(h)
    let at = same?.find((i) => sizes[i] === size && sameLabels(out[i]!.stream, size, labels))
    if (at === undefined) {
      at = out.push({ stream: labels, values: [] }) - 1
      sizes.push(size)
      if (same) same.push(at)
      else byHash.set(h, [at])
    }
    const s = out[at]!
    if (!categorize) s.values.push([r.ts, r.line])
    else {
      const extra: Record<string, Record<string, string>> = {}
      if (Object.keys(r.meta).length) extra.structuredMetadata = r.meta
      if (Object.keys(parsed).length) extra.parsed = parsed
      s.values.push([r.ts, r.line, extra])
    }
  }
  return out
}
