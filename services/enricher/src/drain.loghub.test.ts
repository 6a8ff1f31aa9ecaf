// Fidelity of the reference Drain (drain.ts) to the published Drain: the logpai benchmark's
// per-dataset tuned settings on the eight labelled Loghub-2k datasets, against floors set 0.005
// (ten lines in 2 000) below the figures measured when it was written. This is not what users get:
// the enricher runs the template miner (miner.ts), scored in miner.loghub.test.ts. Data:
// $LOGHUB_DIR or ../shared/data/loghub beside the repository (see loghub.ts).
import { describe, expect, it } from 'vitest'
import { LOGHUB_DATASETS, evaluateDataset, groupingAccuracy } from './loghub.js'
import type { LoghubDataset } from './loghub.js'

// Measured: HDFS 1.0, BGL 0.9625, Apache 1.0, OpenSSH 0.7875, Zookeeper 0.9665, Spark 0.92,
// Hadoop 0.9475, Proxifier 0.5265 — the logpai reference's own figures (published rounded to
// three decimals), except HDFS where collapsing wildcard runs fixes the variable-length lines.
const FLOORS: Readonly<Record<LoghubDataset, number>> = {
  HDFS: 0.995,
  BGL: 0.9575,
  Apache: 0.995,
  OpenSSH: 0.7825,
  Zookeeper: 0.9615,
  Spark: 0.915,
  Hadoop: 0.9425,
  Proxifier: 0.5215,
}

describe('groupingAccuracy', () => {
  it('counts a line correct only when its predicted group equals its true group', () => {
    // Truth groups {0,1}, {2}, {3,4}; prediction merges 2 into 0/1's group and splits 3/4.
    expect(groupingAccuracy(['a', 'a', 'b', 'c', 'c'], ['x', 'x', 'x', 'y', 'z'])).toBe(0)
    expect(groupingAccuracy(['a', 'a', 'b', 'c', 'c'], ['x', 'x', 'w', 'y', 'z'])).toBeCloseTo(3 / 5)
    expect(groupingAccuracy(['a', 'a', 'b'], ['p', 'p', 'q'])).toBe(1)
  })
})

describe('reference Drain with logpai’s per-dataset settings (fidelity, not production)', () => {
  const results = LOGHUB_DATASETS.map((d) => evaluateDataset(d))

  it('prints the accuracy table', () => {
    console.log(
      [
        'dataset     accuracy  published  floor   templates',
        ...results.map((r) => `${r.dataset.padEnd(10)}  ${r.accuracy.toFixed(4)}    ${r.published.toFixed(3)}     ${FLOORS[r.dataset].toFixed(4)}  ${r.templates}`),
      ].join('\n'),
    )
    expect(results).toHaveLength(8)
  })

  it.each(LOGHUB_DATASETS)('%s stays at or above its floor', (dataset) => {
    const r = results.find((x) => x.dataset === dataset)
    expect(r?.lines).toBe(2000)
    expect(r?.accuracy).toBeGreaterThanOrEqual(FLOORS[dataset])
  })
})
