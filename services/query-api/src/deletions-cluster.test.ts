// Deletions on a ClickHouse cluster (CLICKHOUSE_CLUSTER): the mutations go ON CLUSTER to the local
// tables, their subqueries read the shard's local logs, and reads and task rows still go through
// the Distributed tables. A recording client stands in for the cluster (none runs here); the
// statements themselves run against embedded ClickHouse in libs/clickhouse/src/cluster.int.test.ts.
import { describe, expect, it } from 'vitest'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { createLogger } from '@sluice/observability'
import { Deletions } from './deletions.js'

function recordingClient() {
  const commands: string[] = []
  const queries: string[] = []
  const client = {
    command: async ({ query }: { query: string }) => {
      commands.push(query.replace(/\s+/g, ' '))
      return {}
    },
    query: async ({ query }: { query: string }) => {
      queries.push(query.replace(/\s+/g, ' '))
      return { json: async () => [{ n: '2' }] }
    },
  }
  return { client: client as unknown as Pick<ClickHouseClient, 'query' | 'command'>, commands, queries }
}

async function runDeletion(cluster: string | undefined) {
  const rec = recordingClient()
  const deletions = new Deletions({ database: 'db', cluster, clickhouse: rec.client, logger: createLogger({ level: 'silent' }) })
  await deletions.create('acme', { user_id: 'u-42' }, 'key-1')
  await deletions.idle()
  return { ...rec, mutations: rec.commands.filter((c) => c.startsWith('ALTER')) }
}

describe('deletions on a ClickHouse cluster', () => {
  it('mutate the local tables ON CLUSTER, reading the local logs in their subqueries', async () => {
    const { mutations } = await runDeletion('c1')
    expect(mutations.map((m) => /^ALTER TABLE (\S+ ON CLUSTER c1) (UPDATE|DELETE)/.exec(m)?.slice(1))).toEqual([
      ['db.patterns_local ON CLUSTER c1', 'UPDATE'],
      ['db.error_events_local ON CLUSTER c1', 'DELETE'],
      ['db.logs_local ON CLUSTER c1', 'DELETE'],
    ])
    for (const m of mutations.slice(0, 2)) expect(m).toContain('FROM db.logs_local WHERE')
    for (const m of mutations) expect(m).toMatch(/SETTINGS mutations_sync = 2, allow_nondeterministic_mutations = 1/)
  })

  it('count the records and store the task through the Distributed tables', async () => {
    const { queries, commands } = await runDeletion('c1')
    expect(queries[0]).toContain('FROM db.logs FINAL WHERE')
    expect(commands.filter((c) => c.startsWith('INSERT INTO db.deletions '))).toHaveLength(3) // pending, running, done
  })

  it('without a cluster, mutate the tables themselves as before', async () => {
    const { mutations } = await runDeletion(undefined)
    expect(mutations.map((m) => /^ALTER TABLE (\S+) (UPDATE|DELETE)/.exec(m)?.[1])).toEqual(['db.patterns', 'db.error_events', 'db.logs'])
    for (const m of mutations) expect(m).not.toContain('ON CLUSTER')
    for (const m of mutations) expect(m).toMatch(/SETTINGS mutations_sync = 2$/)
  })
})
