// Request parameters of the Loki HTTP API, read as Loki reads them: times as RFC 3339 or Unix
// epochs (seconds, with fractions, or nanoseconds), steps as seconds or Prometheus durations,
// `since` as a duration. Every error is a 400 naming the parameter.
import { SluiceError, parseTimestampNs } from '@sluice/core'

export type Query = Record<string, string | string[] | undefined>

const bad = (name: string, why: string) => new SluiceError('VALIDATION_FAILED', `invalid parameter ${name}: ${why}`)

export function str(q: Query, name: string): string | undefined {
  const v = q[name]
  return Array.isArray(v) ? v[v.length - 1] : v
}

export function all(q: Query, name: string): string[] {
  const v = q[name]
  return v === undefined ? [] : Array.isArray(v) ? v : [v]
}

const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1_000n, µs: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n, w: 604_800_000_000_000n, y: 31_536_000_000_000_000n }

/** `1h30m`, `250ms`, `5m` → nanoseconds; undefined when not a duration. */
export function durationNs(text: string): bigint | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d|w|y))+$/.test(text)) return undefined
  let total = 0n
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)/g)) {
    const [int, frac = ''] = m[1]!.split('.')
    const unit = UNIT_NS[m[2]!]!
    total += BigInt(int!) * unit + (frac ? (BigInt(frac) * unit) / 10n ** BigInt(frac.length) : 0n)
  }
  return total
}

/** A time parameter in nanoseconds. Integers: seconds up to 10 digits, else ms/µs/ns by magnitude. */
export function time(q: Query, name: string, fallback: bigint): bigint {
  const v = str(q, name)
  if (v === undefined || v === '') return fallback
  if (/^\d+\.\d+$/.test(v)) {
    const [s, frac] = v.split('.')
    return BigInt(s!) * 1_000_000_000n + BigInt(frac!.padEnd(9, '0').slice(0, 9))
  }
  if (/^\d+$/.test(v) && v.length <= 10) return BigInt(v) * 1_000_000_000n
  const ns = parseTimestampNs(v)
  if (ns === undefined) throw bad(name, `${JSON.stringify(v)} is neither RFC 3339 nor a Unix epoch`)
  return ns
}

/** `step`/`interval`: seconds (`15`, `0.5`) or a duration (`1m`). */
export function step(q: Query, name: string): bigint | undefined {
  const v = str(q, name)
  if (v === undefined || v === '') return undefined
  if (/^\d+(\.\d+)?$/.test(v)) return BigInt(Math.round(Number(v) * 1e9))
  const d = durationNs(v)
  if (d === undefined) throw bad(name, `${JSON.stringify(v)} is neither seconds nor a duration like 1m`)
  return d
}

export function int(q: Query, name: string, fallback: number, max: number): number {
  const v = str(q, name)
  if (v === undefined || v === '') return fallback
  if (!/^\d+$/.test(v)) throw bad(name, `${JSON.stringify(v)} is not a non-negative integer`)
  const n = Number(v)
  if (n > max) throw bad(name, `${n} is above the maximum of ${max}`)
  return n
}

export function direction(q: Query): 'backward' | 'forward' {
  const v = (str(q, 'direction') ?? 'backward').toLowerCase()
  if (v !== 'backward' && v !== 'forward') throw bad('direction', `expected backward or forward, got ${JSON.stringify(v)}`)
  return v
}

/** Loki's default step: the range split into about 250 points, at least one second. */
export function defaultStepNs(startNs: bigint, endNs: bigint): bigint {
  const s = (endNs - startNs) / 250n / 1_000_000_000n
  return (s < 1n ? 1n : s) * 1_000_000_000n
}
