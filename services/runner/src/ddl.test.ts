// `sluice clickhouse ddl`: the schema's SQL as migrate() runs it, single node or cluster.
import { describe, expect, it } from 'vitest'
import { renderDdl } from './ddl.js'

describe('sluice clickhouse ddl', () => {
  it('prints every migration, without ON CLUSTER, when no cluster is named', () => {
    const sql = renderDdl({ database: 'sluice', ttlDays: 30 })
    expect(sql).toContain('-- 0001_create_logs (recorded in schema_migrations as version 1)')
    expect(sql).toContain('-- 0013_audit')
    expect(sql).toContain('CREATE TABLE IF NOT EXISTS sluice.logs\n(')
    expect(sql).not.toContain('ON CLUSTER')
  })

  it("prints the cluster form: local Replicated tables, Distributed twins, the cluster's schema_migrations", () => {
    const sql = renderDdl({ database: 'logsdb', ttlDays: 7, cluster: 'prod' })
    expect(sql).toContain("CREATE TABLE IF NOT EXISTS logsdb.logs ON CLUSTER prod AS logsdb.logs_local\nENGINE = Distributed('prod', 'logsdb', 'logs_local', cityHash64(tenant, ServiceName));")
    expect(sql).toContain("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}')")
    expect(sql).toContain('ALTER TABLE logsdb.logs_local ON CLUSTER prod MODIFY COLUMN RetentionDays DEFAULT 7;')
    expect(sql).toContain("ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{shard}-{replica}')")
    // Every statement ends with `;` and every DDL names the cluster.
    const statements = sql.replace(/^--.*$/gm, '').split(/;\n/).map((s) => s.trim()).filter(Boolean)
    for (const s of statements) expect(s.startsWith('INSERT') || s.includes('ON CLUSTER prod'), s).toBe(true)
  })
})
