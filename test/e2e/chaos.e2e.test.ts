// The fault suite, bounded: a three-broker cluster, two instances of every target, steady load
// through both gateways, and five faults in turn — a broker killed (stays down), a second broker
// killed (below min.insync.replicas) then both restarted, an enricher and a sink SIGKILLed
// mid-batch, ClickHouse refusing connections for 30 s. Every acknowledged record must be stored.
// `npm run chaos` runs every fault (README "Faults").
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { resultTable, runSuite } from '../chaos/suite.js'
import type { FaultResult } from '../chaos/suite.js'

describe('fault suite (3 brokers, two instances of every target)', () => {
  it('loses no acknowledged record through broker, process and ClickHouse faults, and every consumer group resumes', { timeout: 30 * 60_000 }, async () => {
    const results = await runSuite({
      faults: ['broker-down', 'second-broker-down', 'kill-enricher', 'kill-sink', 'clickhouse-unreachable'],
      recordsPerSecond: 600,
      settleMs: 5000,
      recoverMs: 15_000,
      dir: path.join(REPO_ROOT, '.local/chaos-test'),
      kafkaPort: 19192,
      registryPort: 18181,
      log: (line) => process.stdout.write(`[chaos] ${line}${os.EOL}`),
    })
    process.stdout.write(`${resultTable(results)}${os.EOL}`)
    const by = (name: string): FaultResult => results.find((r) => r.fault === name)!

    for (const r of results) {
      // Records flowed through every fault, and each acknowledged one is in ClickHouse.
      expect(r.acked, r.fault).toBeGreaterThan(0)
      expect(r.lost, r.fault).toBe(0)
      expect(r.stored, r.fault).toBe(r.acked)
    }
    // One broker of three down: writes go on (two copies still meet min.insync.replicas).
    expect(Object.keys(by('broker-down').refused).filter((k) => k !== '503')).toEqual([])
    // One of three left: the gateways refuse with 503 (retryable) instead of acknowledging
    // records that only one broker holds; the same batches are taken once the brokers are back.
    expect(by('second-broker-down').refused['503'] ?? 0).toBeGreaterThan(0)
    // A crashed member's partitions moved to the survivor, and the groups moved on after ClickHouse came back.
    for (const name of ['kill-enricher', 'kill-sink', 'clickhouse-unreachable']) {
      for (const [group, stall] of Object.entries(by(name).stallMs)) expect(stall, `${name}: ${group}`).toBeDefined()
    }
  })
})
