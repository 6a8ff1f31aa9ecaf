// Accuracy harness for the Drain miner on the labelled Loghub-2k datasets (logpai/loghub).
// Input is the `Content` column of `<name>_2k.log_structured.csv`, as in the logpai benchmark,
// with that benchmark's per-dataset masks, similarity threshold and depth
// (logpai/logparser benchmark/Drain_benchmark.py). Grouping accuracy: a line is correct when the
// set of lines in its predicted group equals the set of lines sharing its ground-truth EventId.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCsvObjects } from './csv.js'
import { Drain } from './drain.js'
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
}

/** Reads a dataset; accepts both `<dir>/<name>/<name>_2k…` (Loghub's layout) and a flat folder. */
export function loadLoghub(dataset: LoghubDataset, dir = loghubDir()): LabelledLines {
  const file = `${dataset}_2k.log_structured.csv`
  const path = [join(dir, dataset, file), join(dir, file)].find((p) => existsSync(p))
  if (!path) throw new Error(`${file} not found under ${dir}`)
  const rows = parseCsvObjects(readFileSync(path, 'utf8'))
  return { content: rows.map((r) => r.Content ?? ''), eventIds: rows.map((r) => r.EventId ?? '') }
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

/** Drain throughput (lines/s) over `lines`, repeated `rounds` times on fresh miners. */
export function mineThroughput(lines: readonly string[], rounds = 5, makeDrain: () => Drain = () => new Drain()): number {
  let best = 0
  for (let r = 0; r < rounds; r++) {
    const drain = makeDrain()
    const start = process.hrtime.bigint()
    for (const line of lines) drain.add(line)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    best = Math.max(best, lines.length / seconds)
  }
  return best
}
