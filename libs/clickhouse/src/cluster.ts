// Cluster mode (CLICKHOUSE_CLUSTER): the migrations rewritten for a ClickHouse cluster, the way the
// OpenTelemetry exporter (cluster_name: ON CLUSTER on every DDL), qryn (CLUSTER_NAME: local tables
// plus Distributed ones) and SigNoz (logs_v2 + distributed_logs_v2) do it. Each data table <t> of
// the migrations becomes
//
//   <db>.<t>_local ON CLUSTER c   Replicated<Engine>('/clickhouse/tables/{uuid}/{shard}', '{replica}', <args>)
//   <db>.<t>       ON CLUSTER c   Distributed('c', '<db>', '<t>_local', <sharding key>)
//
// so every read and insert in the code keeps naming <db>.<t>, now the Distributed table. The
// replica path is ClickHouse's default_replica_path, written out: {uuid} (the same on every host of
// an ON CLUSTER create, in an Atomic database) keeps paths apart across the drop/create/EXCHANGE of
// 0011, which a name-based path would not (after EXCHANGE, logs_local would hold logs_0011_local's
// path, and re-running 0011 would create a second replica there).
//
// The rewrite works on the migrations' own SQL, statement by statement, by kind. It relies on one
// convention: every table is named with its database (`{database}.logs`), so `<db>.<name>` is a table
// reference and nothing else is. A statement of a kind it does not know is refused, not passed
// through: a new migration must fit here (cluster.int.test.ts has the real parser read every
// rewritten statement, so a rewrite ClickHouse would not parse fails the tests, not a deployment).
import { SluiceError } from '@sluice/core'

/**
 * Sharding keys, one per data table. Rows that ClickHouse merges together (same sorting key in a
 * Replacing/Summing/Aggregating table) must be on one shard, or FINAL and merges would not see them
 * together: each key is a hash of a prefix of its table's ORDER BY. (tenant, service) for the
 * tables derived from logs, so a tenant's large service spreads while its rows, their error events,
 * patterns and volume sit together. A materialised view writes the local table of the shard its
 * source row landed on, so for the tables views fill the key only places direct inserts (back-fills).
 */
export const SHARDING_KEYS: Readonly<Record<string, string>> = {
  logs: 'cityHash64(tenant, ServiceName)',
  error_events: 'cityHash64(tenant, ServiceName)',
  patterns: 'cityHash64(tenant, ServiceName)',
  volume: 'cityHash64(tenant, ServiceName)',
  // No service column: view rows follow their log row's shard; readers sum() across shards.
  label_values: 'cityHash64(tenant, Name, Value)',
  // Read by (tenant, Name) and grouped: a copy of a key on two shards changes nothing.
  attribute_keys: 'cityHash64(tenant, Name)',
  // Read as `PatternId IN (SELECT … WHERE Alias = …)`: a copy on two shards changes nothing.
  pattern_aliases: 'cityHash64(tenant, Alias)',
  // Every version of an alert (ReplacingMergeTree(Version) by (Tenant, Id)) on one shard.
  alerts: 'cityHash64(Tenant, Id)',
  // Name is the service's name: (tenant, service) as for logs.
  services: 'cityHash64(tenant, Name)',
  // Every state of a task, every copy of an audit row, on one shard.
  deletions: 'cityHash64(tenant, id)',
  audit: 'cityHash64(tenant, id)',
}

export const LOCAL_SUFFIX = '_local'
const REPLICA_ARGS = `'/clickhouse/tables/{uuid}/{shard}', '{replica}'`
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/

export interface ClusterDdlOptions {
  cluster: string
  database: string
}

export interface ClusterDdl {
  /** The cluster form of one migration statement: one statement or more, in the order to run them. */
  transform(statement: string): string[]
  /** The data tables created so far, each with its sharding key. */
  readonly tables: ReadonlyMap<string, string>
}

function refuse(message: string, statement: string): never {
  throw new SluiceError('MIGRATION_FAILED', `${message} (cluster mode): ${statement.replace(/\s+/g, ' ').slice(0, 200)}`)
}

/** Splits at `sep` outside parentheses and quotes. */
export function splitTopLevel(text: string, sep: string): string[] {
  const parts: string[] = []
  let depth = 0
  let quote: string | undefined
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quote !== undefined) {
      if (c === '\\') i++
      else if (c === quote) quote = undefined
    } else if (c === "'" || c === '"' || c === '`') quote = c
    else if (c === '(' || c === '[') depth++
    else if ((c === ')' || c === ']') && depth > 0) depth--
    else if (depth === 0 && text.startsWith(sep, i)) {
      parts.push(text.slice(start, i))
      start = i + sep.length
    }
  }
  parts.push(text.slice(start))
  return parts
}

/** The index just past the parenthesis closing the one at `open`. */
function closingParen(text: string, open: number): number {
  // `(` + what follows, split at top-level `)`: the first part is the parenthesis itself.
  const [inner, ...after] = splitTopLevel(text.slice(open + 1), ')')
  if (after.length === 0) throw new SluiceError('MIGRATION_FAILED', `unbalanced parentheses in: ${text.slice(0, 200)}`)
  return open + 1 + inner!.length + 1
}

// ALTER operations on columns change what the Distributed table must know (names, types, defaults:
// a Distributed table fills an insert's missing columns from its own defaults). Everything else —
// indexes, TTL, projections, mutations — concerns only the stored rows, so the local tables.
const COLUMN_OP = /^\s*(ADD|DROP|MODIFY|RENAME|COMMENT)\s+COLUMN\b/i
const REMOVING_OP = /^\s*(DROP|RENAME)\s+COLUMN\b/i

export function createClusterDdl(opts: ClusterDdlOptions): ClusterDdl {
  const { cluster, database: db } = opts
  if (!IDENT.test(cluster)) throw new SluiceError('CONFIG_INVALID', `cluster name ${JSON.stringify(cluster)} is not a plain identifier`)
  if (!IDENT.test(db)) throw new SluiceError('CONFIG_INVALID', `database ${JSON.stringify(db)} is not a plain identifier`)
  const on = `ON CLUSTER ${cluster}`
  const tables = new Map<string, string>()
  const name = `${db}\\.(\\w+)`
  const local = (t: string) => `${db}.${t}${LOCAL_SUFFIX}`
  const dataTable = (t: string, statement: string): string => {
    if (!tables.has(t)) refuse(`${db}.${t} is not a table created by the migrations`, statement)
    return t
  }

  const createDatabase = new RegExp(`^CREATE\\s+DATABASE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${db}$`, 'i')
  const createTable = new RegExp(`^CREATE\\s+TABLE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${name}\\s+([\\s\\S]*)$`, 'i')
  const createView = new RegExp(`^CREATE\\s+MATERIALIZED\\s+VIEW\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${name}\\s+TO\\s+${name}\\s+AS\\s+([\\s\\S]*)$`, 'i')
  const modifyQuery = new RegExp(`^ALTER\\s+TABLE\\s+${name}\\s+MODIFY\\s+QUERY\\s+(SELECT\\b[\\s\\S]*)$`, 'i')
  const alter = new RegExp(`^ALTER\\s+TABLE\\s+${name}\\s+([\\s\\S]*)$`, 'i')
  const dropView = new RegExp(`^DROP\\s+VIEW\\s+(IF\\s+EXISTS\\s+)?${name}(\\s+SYNC)?$`, 'i')
  const dropTable = new RegExp(`^DROP\\s+TABLE\\s+(IF\\s+EXISTS\\s+)?${name}(\\s+SYNC)?$`, 'i')
  const exchange = new RegExp(`^EXCHANGE\\s+TABLES\\s+${name}\\s+AND\\s+${name}$`, 'i')
  const insert = new RegExp(`^INSERT\\s+INTO\\s+${name}\\s+(?:SETTINGS\\s+([\\s\\S]*?)\\s+)?(SELECT\\b[\\s\\S]*)$`, 'i')
  const reference = new RegExp(`\\b${name}\\b`, 'g')
  /** Materialised views the migrations created (and have not dropped). */
  const views = new Set<string>()
  /** A SELECT over the tables, as each shard's view reads it: from its own local tables. */
  const localReads = (select: string) => select.replace(reference, (ref, t: string) => (tables.has(t) ? local(t) : ref))

  /** ENGINE = X[(args)] <tail> → [X, args, tail]. */
  const engineOf = (rest: string, statement: string): [string, string | undefined, string] => {
    const m = /^\s*ENGINE\s*=\s*(\w+)/i.exec(rest)
    if (!m) refuse('expected ENGINE = … after the columns', statement)
    let end = m[0].length
    let args: string | undefined
    if (rest[end] === '(') {
      const close = closingParen(rest, end)
      args = rest.slice(end + 1, close - 1).trim() || undefined
      end = close
    }
    return [m[1]!, args, rest.slice(end)]
  }

  function table(m: RegExpExecArray, statement: string): string[] {
    const [, ifNotExists = '', t, body] = m as unknown as [string, string | undefined, string, string]
    let shape: string
    let rest: string
    let key = SHARDING_KEYS[t]
    if (body.startsWith('(')) {
      const close = closingParen(body, 0)
      shape = body.slice(0, close)
      rest = body.slice(close)
    } else {
      const as = new RegExp(`^AS\\s+${name}`, 'i').exec(body)
      if (!as) refuse('expected a column list or AS <table>', statement)
      const source = dataTable(as[1]!, statement)
      shape = `AS ${local(source)}`
      rest = body.slice(as[0].length)
      key = tables.get(source) // a copy of a table (0011's logs_0011) is sharded as the table
    }
    if (key === undefined) refuse(`no sharding key for ${db}.${t}: add it to SHARDING_KEYS`, statement)
    const [engine, args, tail] = engineOf(rest, statement)
    if (!/^(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?MergeTree$/.test(engine)) refuse(`engine ${engine} has no Replicated form here`, statement)
    tables.set(t, key)
    return [
      `CREATE TABLE ${ifNotExists}${local(t)} ${on} ${shape}\nENGINE = Replicated${engine}(${REPLICA_ARGS}${args ? `, ${args}` : ''})${tail}`,
      `CREATE TABLE ${ifNotExists}${db}.${t} ${on} AS ${local(t)}\nENGINE = Distributed('${cluster}', '${db}', '${t}${LOCAL_SUFFIX}', ${key})`,
    ]
  }

  function transform(raw: string): string[] {
    const s = raw.trim()
    let m: RegExpExecArray | null
    if (createDatabase.test(s)) return [`${s} ${on}`]
    if ((m = createTable.exec(s))) return table(m, s)
    if ((m = createView.exec(s))) {
      // Each shard's view reads the rows inserted into its own local table and writes its own
      // local target: inserts through the Distributed table reach one replica per shard, whose
      // view fires there; the Replicated target copies the result to the other replicas.
      const [, ifNotExists = '', view, target, select] = m as unknown as [string, string | undefined, string, string, string]
      const to = local(dataTable(target, s))
      views.add(view)
      return [`CREATE MATERIALIZED VIEW ${ifNotExists}${db}.${view} ${on} TO ${to} AS ${localReads(select)}`]
    }
    if ((m = modifyQuery.exec(s))) {
      // A view's new query, swapped atomically on every host, reading the local tables as before.
      const [, view, select] = m as unknown as [string, string, string]
      if (!views.has(view)) refuse(`${db}.${view} is not a materialised view created by the migrations`, s)
      return [`ALTER TABLE ${db}.${view} ${on} MODIFY QUERY ${localReads(select)}`]
    }
    if ((m = alter.exec(s))) {
      const [, t, ops] = m as unknown as [string, string, string]
      dataTable(t, s)
      const kinds = splitTopLevel(ops, ',').map((op) => COLUMN_OP.test(op))
      if (kinds.some((k) => k !== kinds[0])) refuse('an ALTER mixing column and other operations: split it', s)
      const toLocal = `ALTER TABLE ${local(t)} ${on} ${ops}`
      if (!kinds[0]) return [toLocal]
      const toDistributed = `ALTER TABLE ${db}.${t} ${on} ${ops}`
      // A Distributed table never names a column its local tables lack: added locally first, removed from it first.
      return REMOVING_OP.test(ops) ? [toDistributed, toLocal] : [toLocal, toDistributed]
    }
    if ((m = dropView.exec(s))) {
      views.delete(m[2]!)
      return [`DROP VIEW ${m[1] ?? ''}${db}.${m[2]} ${on}${m[3] ?? ''}`]
    }
    if ((m = dropTable.exec(s))) {
      const [, ifExists = '', t, sync = ''] = m as unknown as [string, string | undefined, string, string | undefined]
      // DROP … IF EXISTS of a table not (or no longer) there is fine; a bare DROP must name one.
      if (!ifExists) dataTable(t, s)
      tables.delete(t)
      return [`DROP TABLE ${ifExists}${db}.${t} ${on}${sync}`, `DROP TABLE ${ifExists}${local(t)} ${on}${sync}`]
    }
    if ((m = exchange.exec(s))) {
      // The local tables swap; each Distributed table keeps pointing at its name (same columns: 0011
      // creates the copy AS the original). The copy's Distributed table is dropped with the copy.
      const [, a, b] = m as unknown as [string, string, string]
      const [ka, kb] = [tables.get(dataTable(a, s))!, tables.get(dataTable(b, s))!]
      tables.set(a, kb).set(b, ka)
      return [`EXCHANGE TABLES ${local(a)} AND ${local(b)} ${on}`]
    }
    if ((m = insert.exec(s))) {
      // Back-fills run once, from the one process migrating: through the Distributed tables, which
      // read every shard and place each row by the target's sharding key. Local-to-local on each
      // shard would need the statement run once per shard (INSERT has no ON CLUSTER). Foreground:
      // the rows are on their shards when the migration is recorded as applied.
      const [, t, settings, select] = m as unknown as [string, string, string | undefined, string]
      dataTable(t, s)
      return [`INSERT INTO ${db}.${t} SETTINGS ${settings ? `${settings}, ` : ''}distributed_foreground_insert = 1\n${select}`]
    }
    return refuse('a statement of a kind with no cluster form', s)
  }

  return { transform, tables }
}

/**
 * schema_migrations in cluster mode: one ReplicatedMergeTree whose replicas are every host of the
 * cluster (no {shard} in the path; the replica name includes the shard to stay unique), so a
 * runner connected to any node sees what another applied. A local table per node would let a
 * runner behind a load balancer re-run migrations another node already ran (back-fills twice).
 */
export function schemaMigrationsDdl(database: string, cluster: string | undefined): string {
  const columns = '(version UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3))'
  if (cluster === undefined) return `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations ${columns} ENGINE = MergeTree ORDER BY version`
  return `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations ON CLUSTER ${cluster} ${columns} ENGINE = ReplicatedMergeTree('/clickhouse/tables/{uuid}/all', '{shard}-{replica}') ORDER BY version`
}

/** Where statements outside the migrations (deletions, retention) find a data table's rows. */
export interface ClusterTarget {
  readonly cluster: string | undefined
  /** The table holding this node's rows: `<db>.<t>`, in cluster mode `<db>.<t>_local`. */
  local(table: string): string
  /** What `ALTER TABLE` names to change stored rows (mutations, TTL, indexes): `<db>.<t>`, in cluster mode `<db>.<t>_local ON CLUSTER c`. */
  mutate(table: string): string
  /**
   * SETTINGS of a mutation waited for on every replica. In cluster mode, a mutation whose WHERE has a
   * subquery is "nondeterministic" to ClickHouse (replicas could read different rows); ours read the
   * shard's own local table, the same on every in-sync replica, so it is allowed explicitly. ON
   * CLUSTER waits at most distributed_ddl_task_timeout for the hosts: an hour, not the default 3 min.
   */
  readonly mutationSettings: string
}

export function clusterTarget(database: string, cluster?: string): ClusterTarget {
  if (cluster === undefined) {
    return { cluster, local: (t) => `${database}.${t}`, mutate: (t) => `${database}.${t}`, mutationSettings: 'mutations_sync = 2' }
  }
  if (!IDENT.test(cluster)) throw new SluiceError('CONFIG_INVALID', `cluster name ${JSON.stringify(cluster)} is not a plain identifier`)
  return {
    cluster,
    local: (t) => `${database}.${t}${LOCAL_SUFFIX}`,
    mutate: (t) => `${database}.${t}${LOCAL_SUFFIX} ON CLUSTER ${cluster}`,
    mutationSettings: 'mutations_sync = 2, allow_nondeterministic_mutations = 1, distributed_ddl_task_timeout = 3600',
  }
}
