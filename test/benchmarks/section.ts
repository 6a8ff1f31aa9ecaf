// What a benchmark section is: a named async function from the shared context to rows. run.ts
// runs the sections of its list in order; adding one (an enricher, a WebSocket fan-out) means
// writing a module that exports a Section and appending it to that list.
import type { Infra } from '../infra/providers.js'
import type { BenchConfig } from './config.js'
import type { CpuReport } from './cpu.js'
import type { NdjsonBody } from './records.js'
import type { Row } from './table.js'

export interface BenchContext {
  config: BenchConfig
  infra: Infra
  /** Pre-built NDJSON request bodies, shared by every section that posts. */
  bodies: readonly NdjsonBody[]
  /** Figures a section publishes for later ones, e.g. `raw.recordsPerS` for the gateway ratio. */
  figures: Map<string, number>
  /** Kafka topics a section created; deleted when the run ends. */
  topics: Set<string>
  /** Progress for people watching (stderr; stdout carries the table). */
  log(message: string): void
}

export interface SectionResult {
  rows: Row[]
  /** Anything worth keeping in results.json beyond the rows (raw latencies, metrics, CPU). */
  detail?: Record<string, unknown>
}

export interface Section {
  name: string
  run(ctx: BenchContext): Promise<SectionResult>
}

/** CPU rows of a section, one per process, plus the machine. */
export function cpuRows(section: string, cpu: CpuReport): Row[] {
  const rows: Row[] = Object.entries(cpu.processes).map(([label, pct]) => ({ section, metric: `CPU ${label}`, value: pct, unit: '% of a core', decimals: 0 }))
  if (cpu.others !== undefined) rows.push({ section, metric: 'CPU other processes', value: cpu.others, unit: '% of a core', decimals: 0 })
  // Named when they matter: something else busy on a 2-core box changes every figure above.
  for (const [name, pct] of Object.entries(cpu.topOthers ?? {})) {
    if (pct >= 10) rows.push({ section, metric: `  of which ${name}`, value: pct, unit: '% of a core', decimals: 0 })
  }
  if (cpu.machine !== undefined) rows.push({ section, metric: 'CPU machine (all cores)', value: cpu.machine, unit: '% busy', decimals: 0 })
  return rows
}

/** Decimal megabyte, as network and disk throughput are usually quoted. */
export const MB = 1_000_000
