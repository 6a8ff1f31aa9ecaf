// The cluster rewrite of migration statements, one kind at a time (cluster.int.test.ts has the real
// parser read the rewrite of every migration file).
import { describe, expect, it } from 'vitest'
import { createClickHouse } from './client.js'
import { clusterTarget, createClusterDdl, schemaMigrationsDdl, splitTopLevel } from './cluster.js'

const oneLine = (s: string) => s.replace(/\s+/g, ' ').trim()

/** A transformer that has seen 0001-like logs and 0004-like patterns tables. */
function withTables() {
  const ddl = createClusterDdl({ cluster: 'c1', database: 'db' })
  ddl.transform(`CREATE TABLE IF NOT EXISTS db.logs (tenant String, ServiceName String, id String) ENGINE = ReplacingMergeTree ORDER BY (tenant, ServiceName, id)`)
  ddl.transform(`CREATE TABLE IF NOT EXISTS db.patterns (tenant String, ServiceName String, Count AggregateFunction(count)) ENGINE = AggregatingMergeTree ORDER BY (tenant, ServiceName)`)
  return ddl
}

describe('cluster DDL: CREATE TABLE', () => {
  it('becomes a Replicated local table and a Distributed table under the original name, both ON CLUSTER', () => {
    const ddl = createClusterDdl({ cluster: 'c1', database: 'db' })
    const out = ddl.transform(`CREATE TABLE IF NOT EXISTS db.logs
(
    tenant LowCardinality(String),
    ServiceName LowCardinality(String),
    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(TimestampTime)
ORDER BY (tenant, ServiceName)
SETTINGS index_granularity = 8192`)
    expect(out).toHaveLength(2)
    expect(oneLine(out[0]!)).toBe(
      "CREATE TABLE IF NOT EXISTS db.logs_local ON CLUSTER c1 ( tenant LowCardinality(String), ServiceName LowCardinality(String), INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8 ) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}') PARTITION BY toDate(TimestampTime) ORDER BY (tenant, ServiceName) SETTINGS index_granularity = 8192",
    )
    expect(oneLine(out[1]!)).toBe("CREATE TABLE IF NOT EXISTS db.logs ON CLUSTER c1 AS db.logs_local ENGINE = Distributed('c1', 'db', 'logs_local', cityHash64(tenant, ServiceName))")
    expect(ddl.tables.get('logs')).toBe('cityHash64(tenant, ServiceName)')
  })

  it("keeps the engine's own arguments after the replica path", () => {
    const ddl = createClusterDdl({ cluster: 'c1', database: 'db' })
    const [local] = ddl.transform('CREATE TABLE IF NOT EXISTS db.volume (Count UInt64, Bytes UInt64) ENGINE = SummingMergeTree((Count, Bytes)) ORDER BY tenant')
    expect(local).toContain("ENGINE = ReplicatedSummingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', (Count, Bytes)) ORDER BY tenant")
    const [alerts] = ddl.transform('CREATE TABLE IF NOT EXISTS db.alerts (Id String, Version UInt32) ENGINE = ReplacingMergeTree(Version) ORDER BY (Tenant, Id)')
    expect(alerts).toContain("ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', Version)")
  })

  it('copies a table created AS another from its local table, sharded as the original', () => {
    const ddl = withTables()
    const out = ddl.transform('CREATE TABLE db.logs_0011 AS db.logs\nENGINE = ReplacingMergeTree\nPARTITION BY (toDate(TimestampTime), RetentionDays)\nORDER BY (tenant, id)')
    expect(oneLine(out[0]!)).toBe(
      "CREATE TABLE db.logs_0011_local ON CLUSTER c1 AS db.logs_local ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}') PARTITION BY (toDate(TimestampTime), RetentionDays) ORDER BY (tenant, id)",
    )
    expect(oneLine(out[1]!)).toBe("CREATE TABLE db.logs_0011 ON CLUSTER c1 AS db.logs_0011_local ENGINE = Distributed('c1', 'db', 'logs_0011_local', cityHash64(tenant, ServiceName))")
  })

  it('refuses a table with no sharding key, and an engine with no Replicated form', () => {
    const ddl = createClusterDdl({ cluster: 'c1', database: 'db' })
    expect(() => ddl.transform('CREATE TABLE db.mystery (a String) ENGINE = MergeTree ORDER BY a')).toThrow(/no sharding key for db.mystery/)
    expect(() => ddl.transform('CREATE TABLE db.logs (a String) ENGINE = Memory')).toThrow(/engine Memory has no Replicated form/)
  })
})

describe('cluster DDL: materialised views', () => {
  it('read the local source and write the local target on each shard', () => {
    const ddl = withTables()
    const [view] = ddl.transform(`CREATE MATERIALIZED VIEW IF NOT EXISTS db.patterns_mv TO db.patterns AS
SELECT tenant, ServiceName, countState() AS Count
FROM db.logs
WHERE PatternId != ''
GROUP BY tenant, ServiceName`)
    expect(oneLine(view!)).toBe(
      "CREATE MATERIALIZED VIEW IF NOT EXISTS db.patterns_mv ON CLUSTER c1 TO db.patterns_local AS SELECT tenant, ServiceName, countState() AS Count FROM db.logs_local WHERE PatternId != '' GROUP BY tenant, ServiceName",
    )
  })

  it('refuse a target the migrations did not create', () => {
    const ddl = withTables()
    expect(() => ddl.transform('CREATE MATERIALIZED VIEW db.v TO db.nowhere AS SELECT 1 FROM db.logs')).toThrow(/db.nowhere is not a table created by the migrations/)
  })

  it('change their query ON CLUSTER, still reading the local source; only views the migrations created', () => {
    const ddl = withTables()
    ddl.transform('CREATE MATERIALIZED VIEW db.patterns_mv TO db.patterns AS SELECT tenant, count() AS Count FROM db.logs GROUP BY tenant')
    expect(ddl.transform('ALTER TABLE db.patterns_mv MODIFY QUERY SELECT tenant, n AS Count FROM (SELECT tenant, count() AS n FROM db.logs GROUP BY tenant)')).toEqual([
      'ALTER TABLE db.patterns_mv ON CLUSTER c1 MODIFY QUERY SELECT tenant, n AS Count FROM (SELECT tenant, count() AS n FROM db.logs_local GROUP BY tenant)',
    ])
    expect(() => ddl.transform('ALTER TABLE db.volume_mv MODIFY QUERY SELECT 1 FROM db.logs')).toThrow(/db.volume_mv is not a materialised view created by the migrations/)
    ddl.transform('DROP VIEW db.patterns_mv')
    expect(() => ddl.transform('ALTER TABLE db.patterns_mv MODIFY QUERY SELECT 1 FROM db.logs')).toThrow(/not a materialised view/)
  })
})

describe('cluster DDL: ALTER TABLE', () => {
  it('sends column changes to the local tables, then to the Distributed table', () => {
    const ddl = withTables()
    const out = ddl.transform("ALTER TABLE db.logs\n    ADD COLUMN IF NOT EXISTS Category LowCardinality(String) DEFAULT 'unknown',\n    ADD COLUMN IF NOT EXISTS HttpStatus Nullable(UInt16)")
    expect(out.map(oneLine)).toEqual([
      "ALTER TABLE db.logs_local ON CLUSTER c1 ADD COLUMN IF NOT EXISTS Category LowCardinality(String) DEFAULT 'unknown', ADD COLUMN IF NOT EXISTS HttpStatus Nullable(UInt16)",
      "ALTER TABLE db.logs ON CLUSTER c1 ADD COLUMN IF NOT EXISTS Category LowCardinality(String) DEFAULT 'unknown', ADD COLUMN IF NOT EXISTS HttpStatus Nullable(UInt16)",
    ])
    // A changed default matters to the Distributed table too: it fills an insert's missing columns.
    expect(ddl.transform('ALTER TABLE db.logs MODIFY COLUMN RetentionDays DEFAULT 7')).toEqual([
      'ALTER TABLE db.logs_local ON CLUSTER c1 MODIFY COLUMN RetentionDays DEFAULT 7',
      'ALTER TABLE db.logs ON CLUSTER c1 MODIFY COLUMN RetentionDays DEFAULT 7',
    ])
  })

  it('drops a column from the Distributed table first', () => {
    const ddl = withTables()
    expect(ddl.transform('ALTER TABLE db.logs DROP COLUMN IF EXISTS Old')).toEqual(['ALTER TABLE db.logs ON CLUSTER c1 DROP COLUMN IF EXISTS Old', 'ALTER TABLE db.logs_local ON CLUSTER c1 DROP COLUMN IF EXISTS Old'])
  })

  it('sends indexes, TTL and mutations to the local tables only', () => {
    const ddl = withTables()
    expect(ddl.transform('ALTER TABLE db.logs ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.001) GRANULARITY 1')).toEqual([
      'ALTER TABLE db.logs_local ON CLUSTER c1 ADD INDEX IF NOT EXISTS idx_user_id UserId TYPE bloom_filter(0.001) GRANULARITY 1',
    ])
    expect(ddl.transform('ALTER TABLE db.logs MATERIALIZE INDEX idx_user_id')).toEqual(['ALTER TABLE db.logs_local ON CLUSTER c1 MATERIALIZE INDEX idx_user_id'])
    expect(ddl.transform('ALTER TABLE db.logs MODIFY TTL TimestampTime + toIntervalDay(RetentionDays)')).toEqual([
      'ALTER TABLE db.logs_local ON CLUSTER c1 MODIFY TTL TimestampTime + toIntervalDay(RetentionDays)',
    ])
  })

  it('refuses an ALTER mixing column and other operations', () => {
    const ddl = withTables()
    expect(() => ddl.transform('ALTER TABLE db.logs ADD COLUMN x String, ADD INDEX i x TYPE set(0) GRANULARITY 1')).toThrow(/mixing column and other operations/)
  })
})

describe('cluster DDL: drops, exchanges, inserts, the database', () => {
  it('drops a view ON CLUSTER, keeping SYNC last', () => {
    const ddl = withTables()
    expect(ddl.transform('DROP VIEW IF EXISTS db.patterns_mv')).toEqual(['DROP VIEW IF EXISTS db.patterns_mv ON CLUSTER c1'])
  })

  it('drops a table as its Distributed table and then its local one', () => {
    const ddl = withTables()
    expect(ddl.transform('DROP TABLE IF EXISTS db.logs_0011 SYNC')).toEqual(['DROP TABLE IF EXISTS db.logs_0011 ON CLUSTER c1 SYNC', 'DROP TABLE IF EXISTS db.logs_0011_local ON CLUSTER c1 SYNC'])
    expect(ddl.transform('DROP TABLE db.patterns SYNC')).toEqual(['DROP TABLE db.patterns ON CLUSTER c1 SYNC', 'DROP TABLE db.patterns_local ON CLUSTER c1 SYNC'])
    expect(ddl.tables.has('patterns')).toBe(false)
  })

  it('exchanges the local tables; the Distributed tables keep their names', () => {
    const ddl = withTables()
    ddl.transform('CREATE TABLE db.logs_0011 AS db.logs ENGINE = ReplacingMergeTree ORDER BY id')
    expect(ddl.transform('EXCHANGE TABLES db.logs AND db.logs_0011')).toEqual(['EXCHANGE TABLES db.logs_local AND db.logs_0011_local ON CLUSTER c1'])
  })

  it('back-fills through the Distributed tables, in the foreground, keeping the statement’s settings', () => {
    const ddl = withTables()
    expect(ddl.transform('INSERT INTO db.patterns\nSELECT tenant FROM db.logs')).toEqual(['INSERT INTO db.patterns SETTINGS distributed_foreground_insert = 1\nSELECT tenant FROM db.logs'])
    ddl.transform('CREATE TABLE db.logs_0011 AS db.logs ENGINE = ReplacingMergeTree ORDER BY id')
    expect(ddl.transform('INSERT INTO db.logs_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 SELECT * FROM db.logs')).toEqual([
      'INSERT INTO db.logs_0011 SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0, distributed_foreground_insert = 1\nSELECT * FROM db.logs',
    ])
  })

  it('creates the database ON CLUSTER', () => {
    expect(createClusterDdl({ cluster: 'c1', database: 'db' }).transform('CREATE DATABASE IF NOT EXISTS db')).toEqual(['CREATE DATABASE IF NOT EXISTS db ON CLUSTER c1'])
  })

  it('refuses statements of other kinds and names that are not identifiers', () => {
    expect(() => withTables().transform('OPTIMIZE TABLE db.logs FINAL')).toThrow(/no cluster form/)
    expect(() => withTables().transform('RENAME TABLE db.logs TO db.logs2')).toThrow(/no cluster form/)
    expect(() => createClusterDdl({ cluster: "c1'; DROP", database: 'db' })).toThrow(/not a plain identifier/)
  })
})

describe('schema_migrations', () => {
  it('is one replicated table across every host of the cluster, a plain MergeTree otherwise', () => {
    expect(schemaMigrationsDdl('db', undefined)).toBe(
      'CREATE TABLE IF NOT EXISTS db.schema_migrations (version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version',
    )
    const ddl = schemaMigrationsDdl('db', 'c1')
    expect(ddl).toContain('db.schema_migrations ON CLUSTER c1')
    expect(ddl).toContain("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{shard}-{replica}')")
  })
})

describe('clusterTarget', () => {
  it('names the table itself without a cluster', () => {
    const t = clusterTarget('db')
    expect([t.local('logs'), t.mutate('logs'), t.mutationSettings]).toEqual(['db.logs', 'db.logs', 'mutations_sync = 2'])
  })

  it('names the local table ON CLUSTER with a cluster, allowing subqueries over the local tables', () => {
    const t = clusterTarget('db', 'c1')
    expect([t.local('logs'), t.mutate('logs')]).toEqual(['db.logs_local', 'db.logs_local ON CLUSTER c1'])
    expect(t.mutationSettings).toContain('allow_nondeterministic_mutations = 1')
  })
})

describe('createClickHouse', () => {
  it('refuses a cluster for embedded ClickHouse, which is one node', async () => {
    await expect(createClickHouse({ dataDir: '/nonexistent/never-created', cluster: 'c1' })).rejects.toThrow(/CLICKHOUSE_CLUSTER=c1 needs CLICKHOUSE_URL/)
  })
})

describe('splitTopLevel', () => {
  it('splits outside parentheses and quotes only', () => {
    expect(splitTopLevel("a Map(String, String), b DEFAULT ',', c Tuple(x, (y, z))", ',')).toEqual(['a Map(String, String)', " b DEFAULT ','", ' c Tuple(x, (y, z))'])
  })
})
