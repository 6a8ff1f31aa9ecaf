// Accuracy harness for template mining on the labelled Loghub-2k datasets (logpai/loghub).
//   evaluateProduction  the enricher exactly as it runs (createEnricher() with its defaults: one
//                       configuration for every dataset), on the `Content` column or on the raw
//                       `.log` lines (headers and all)
//   evaluateDataset     the reference Drain with the logpai benchmark's per-dataset masks,
//                       similarity and depth (logparser benchmark/Drain_benchmark.py): a fidelity
//                       check against the published Drain figures, not what users get
// Grouping accuracy (GA): a line is correct when the set of lines in its predicted group equals
// the set of lines sharing its ground-truth EventId.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { LogEvent } from '@sluice/core'
import { parseCsvObjects } from './csv.js'
import { Drain } from './drain.js'
import { createEnricher } from './enrich.js'
import { resolveAliases } from './miner.js'
import type { MaskRule } from './masking.js'

export const LOGHUB_DATASETS = ['HDFS', 'BGL', 'Apache', 'OpenSSH', 'Zookeeper', 'Spark', 'Hadoop', 'Proxifier'] as const
export type LoghubDataset = (typeof LOGHUB_DATASETS)[number]

export interface LoghubSetting {
  masks: readonly MaskRule[]
  similarityThreshold: number
  depth: number
}

/** Drain's published grouping accuracy (logpai/logparser benchmark, Loghub-2k). */
export const PUBLISHED_DRAIN_ACCURACY: Readonly<Record<LoghubDataset, number>> = {
  HDFS: 0.998, BGL: 0.963, Apache: 1.0, OpenSSH: 0.79, Zookeeper: 0.967, Spark: 0.92, Hadoop: 0.948, Proxifier: 0.527,
}

// The benchmark masks every regex match with the bare wildcard.
const wild = (...patterns: string[]): MaskRule[] => patterns.map((pattern) => ({ pattern, replacement: '<*>' }))

export const LOGHUB_SETTINGS: Readonly<Record<LoghubDataset, LoghubSetting>> = {
  HDFS: { masks: wild('blk_-?\\d+', '(\\d+\\.){3}\\d+(:\\d+)?'), similarityThreshold: 0.5, depth: 4 },
  BGL: { masks: wild('core\\.\\d+'), similarityThreshold: 0.5, depth: 4 },
  Apache: { masks: wild('(\\d+\\.){3}\\d+'), similarityThreshold: 0.5, depth: 4 },
  OpenSSH: { masks: wild('(\\d+\\.){3}\\d+', '([\\w-]+\\.){2,}[\\w-]+'), similarityThreshold: 0.6, depth: 5 },
  Zookeeper: { masks: wild('(/|)(\\d+\\.){3}\\d+(:\\d+)?'), similarityThreshold: 0.5, depth: 4 },
  Spark: { masks: wild('(\\d+\\.){3}\\d+', '\\b[KGTM]?B\\b', '([\\w-]+\\.){2,}[\\w-]+'), similarityThreshold: 0.5, depth: 4 },
  Hadoop: { masks: wild('(\\d+\\.){3}\\d+'), similarityThreshold: 0.5, depth: 4 },
  Proxifier: {
    masks: wild('<\\d+\\ssec', '([\\w-]+\\.)+[\\w-]+(:\\d+)?', '\\d{2}:\\d{2}(:\\d{2})*', '[KGTM]B'),
    similarityThreshold: 0.6,
    depth: 3,
  },
}

/**
 * The folder holding the datasets: $LOGHUB_DIR, else the first `shared/data/loghub` found walking
 * up from this module (the repository's sibling `../shared/data/loghub`).
 */
export function loghubDir(): string {
  const fromEnv = process.env.LOGHUB_DIR
  if (fromEnv) return resolve(fromEnv)
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = join(dir, 'shared', 'data', 'loghub')
    if (existsSync(candidate)) return candidate
    const parent = dirname(dir)
    if (parent === dir) throw new Error('Loghub data not found: set LOGHUB_DIR or place it in ../shared/data/loghub beside the repository')
    dir = parent
  }
}

export interface LabelledLines {
  content: string[]
  eventIds: string[]
  /** The ground truth's template per line. */
  templates: string[]
}

/** Reads a dataset; accepts both `<dir>/<name>/<name>_2k…` (Loghub's layout) and a flat folder. */
export function loadLoghub(dataset: LoghubDataset, dir = loghubDir()): LabelledLines {
  const file = `${dataset}_2k.log_structured.csv`
  const path = [join(dir, dataset, file), join(dir, file)].find((p) => existsSync(p))
  if (!path) throw new Error(`${file} not found under ${dir}`)
  const rows = parseCsvObjects(readFileSync(path, 'utf8'))
  return { content: rows.map((r) => r.Content ?? ''), eventIds: rows.map((r) => r.EventId ?? ''), templates: rows.map((r) => r.EventTemplate ?? '') }
}

/** The raw lines of a dataset (`<name>_2k.log`), headers and all, in the order of the labels. */
export function loadRawLoghub(dataset: LoghubDataset, dir = loghubDir()): string[] {
  const file = `${dataset}_2k.log`
  const path = [join(dir, dataset, file), join(dir, file)].find((p) => existsSync(p))
  if (!path) throw new Error(`${file} not found under ${dir}`)
  return readFileSync(path, 'utf8').split(/\r?\n/).filter((l) => l !== '')
}

/**
 * F1 of grouping (FGA): a predicted group is right when it holds exactly one true group's lines;
 * precision over predicted groups, recall over true groups.
 */
export function groupingF1(truth: readonly string[], predicted: readonly string[]): number {
  const truthGroups = new Map<string, string>()
  const predictedGroups = new Map<string, string[]>()
  truth.forEach((t, i) => {
    const p = predicted[i]!
    const list = predictedGroups.get(p)
    if (list) list.push(t)
    else predictedGroups.set(p, [t])
  })
  const truthSize = new Map<string, number>()
  for (const t of truth) truthSize.set(t, (truthSize.get(t) ?? 0) + 1)
  let correct = 0
  for (const members of predictedGroups.values()) {
    const first = members[0]!
    if (members.every((m) => m === first) && truthSize.get(first) === members.length && !truthGroups.has(first)) {
      truthGroups.set(first, first)
      correct++
    }
  }
  if (correct === 0) return 0
  const precision = correct / predictedGroups.size
  const recall = correct / truthSize.size
  return (2 * precision * recall) / (precision + recall)
}

/** A template with every parameter written `<*>` and runs of them as one, for comparing templates. */
export function canonicalTemplate(template: string): string {
  return template
    .replace(/<[A-Z]+>/g, '<*>')
    .split(/\s+/)
    .map((t) => (t.includes('<*>') ? '<*>' : t))
    .filter((t, i, all) => !(t === '<*>' && all[i - 1] === '<*>'))
    .join(' ')
    .trim()
}

/** Parsing accuracy (PA): share of lines whose template equals the ground truth's, both canonical. */
export function parsingAccuracy(truth: readonly string[], predicted: readonly string[]): number {
  let same = 0
  truth.forEach((t, i) => {
    if (canonicalTemplate(t) === canonicalTemplate(predicted[i]!)) same++
  })
  return truth.length === 0 ? 1 : same / truth.length
}

/** Share of lines whose predicted group is exactly their ground-truth group. */
export function groupingAccuracy(truth: readonly string[], predicted: readonly string[]): number {
  if (truth.length !== predicted.length) throw new RangeError('truth and prediction differ in length')
  if (truth.length === 0) return 1
  // A truth group is correct as a whole when all its lines share one predicted group and that
  // predicted group has no other lines — i.e. the two sets are equal.
  const predictedSize = new Map<string, number>()
  for (const p of predicted) predictedSize.set(p, (predictedSize.get(p) ?? 0) + 1)
  const groups = new Map<string, { predicted: string | undefined; size: number; pure: boolean }>()
  truth.forEach((t, i) => {
    const p = predicted[i]
    const g = groups.get(t)
    if (!g) groups.set(t, { predicted: p, size: 1, pure: true })
    else {
      g.size++
      if (g.predicted !== p) g.pure = false
    }
  })
  let correct = 0
  for (const g of groups.values()) {
    if (g.pure && g.predicted !== undefined && predictedSize.get(g.predicted) === g.size) correct += g.size
  }
  return correct / truth.length
}

export interface DatasetResult {
  dataset: LoghubDataset
  accuracy: number
  published: number
  lines: number
  templates: number
  linesPerSecond: number
}

/** Mines one dataset with its benchmark settings and scores it. */
export function evaluateDataset(dataset: LoghubDataset, dir = loghubDir()): DatasetResult {
  const { content, eventIds } = loadLoghub(dataset, dir)
  const drain = new Drain(LOGHUB_SETTINGS[dataset])
  const start = process.hrtime.bigint()
  const clusters = content.map((line) => drain.add(line).cluster)
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  // Lines group by their cluster's final template, as the logpai benchmark groups them.
  const predicted = clusters.map((c) => c.template)
  return {
    dataset,
    accuracy: groupingAccuracy(eventIds, predicted),
    published: PUBLISHED_DRAIN_ACCURACY[dataset],
    lines: content.length,
    templates: drain.clusterCount,
    linesPerSecond: content.length / seconds,
  }
}

/** Mining throughput (lines/s) over `lines`, repeated `rounds` times on fresh miners. */
export function mineThroughput(lines: readonly string[], rounds = 5, makeMiner: () => { add(line: string): unknown } = () => new Drain()): number {
  let best = 0
  for (let r = 0; r < rounds; r++) {
    const miner = makeMiner()
    const start = process.hrtime.bigint()
    for (const line of lines) miner.add(line)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    best = Math.max(best, lines.length / seconds)
  }
  return best
}

export interface ProductionResult {
  dataset: LoghubDataset
  input: 'content' | 'raw'
  lines: number
  /** GA of the final groups: each line's stored pattern_id followed through the aliases. */
  ga: number
  fga: number
  pa: number
  /** GA of the pattern_id as stored on each line, aliases not followed. */
  storedGa: number
  templates: number
  linesPerSecond: number
}

const EVAL_NS = 1_700_000_000_000_000_000n

/** The LogEvent the gateway would produce for a line sent with no fields but the message. */
export function loghubEvent(message: string, i: number): LogEvent {
  return {
    id: `loghub-${i}`, tenant: 'eval', timestamp: EVAL_NS, observed_timestamp: EVAL_NS, service: 'unknown', host: null,
    severity_text: 'INFO', severity_number: 9, message, trace_id: null, span_id: null, attributes: {}, resource: {}, source: 'http',
  }
}

/** Runs the production enricher over one dataset and scores its pattern ids and templates. */
export function evaluateProduction(dataset: LoghubDataset, input: 'content' | 'raw', dir = loghubDir()): ProductionResult {
  const truth = loadLoghub(dataset, dir)
  const lines = input === 'content' ? truth.content : loadRawLoghub(dataset, dir)
  if (lines.length !== truth.eventIds.length) throw new Error(`${dataset}: ${lines.length} raw lines for ${truth.eventIds.length} labels`)
  const enricher = createEnricher()
  const aliases = new Map<string, string>()
  const start = process.hrtime.bigint()
  const out = lines.map((line, i) => {
    const e = enricher.enrich(loghubEvent(line, i))
    for (const a of e.pattern_aliases) aliases.set(a, e.pattern_id)
    return e
  })
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const stored = out.map((e) => e.pattern_id)
  const final = stored.map((id) => resolveAliases(aliases, id))
  const latest = new Map<string, string>()
  out.forEach((e, i) => latest.set(final[i]!, e.template))
  return {
    dataset,
    input,
    lines: lines.length,
    ga: groupingAccuracy(truth.eventIds, final),
    fga: groupingF1(truth.eventIds, final),
    pa: parsingAccuracy(truth.templates, final.map((id) => latest.get(id)!)),
    storedGa: groupingAccuracy(truth.eventIds, stored),
    templates: new Set(final).size,
    linesPerSecond: lines.length / seconds,
  }
}
