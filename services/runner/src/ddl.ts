// `sluice clickhouse ddl`: every statement migrate() would run, as SQL text — for operators who
// create the schema themselves, and for reviewers of cluster mode (CLICKHOUSE_CLUSTER). Nothing
// is connected to: the migrations are read and, with a cluster, rewritten (libs/clickhouse/src/cluster.ts).
import path from 'node:path'
import { migrationPlan } from '@sluice/clickhouse'
import { schemasDir } from '@sluice/registry'

export interface DdlOptions {
  database: string
  ttlDays: number
  cluster?: string | undefined
}

/** The statements, `;`-terminated, each migration under a comment naming it. */
export function renderDdl(opts: DdlOptions): string {
  const plan = migrationPlan({ ...opts, dir: path.join(schemasDir(), 'clickhouse') })
  const block = (title: string, statements: string[]) => `-- ${title}\n${statements.map((s) => `${s};\n`).join('\n')}`
  return [
    `-- Sluice ClickHouse schema, database ${opts.database}${opts.cluster ? `, cluster ${opts.cluster}` : ''} (CLICKHOUSE_TTL_DAYS=${opts.ttlDays})`,
    block('bootstrap, on every start', plan.bootstrap),
    ...plan.migrations.map((m) => block(`${m.name} (recorded in schema_migrations as version ${m.version})`, m.statements)),
    block('retention defaults, on every start (MODIFY TTL with materialize_ttl_after_modify = 0)', plan.retention.map((s) => s.query)),
  ].join('\n')
}
