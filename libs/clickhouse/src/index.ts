// @sluice/clickhouse — client factory (server or embedded chdb), versioned migrations, and
// inserts of rows the caller encoded as RowBinary, and ClickHouse's HTTP interface (read-only) over the
// embedded engine for analysts.
export { createClickHouse, pingClickHouse } from './client.js'
export type { ClickHouseClient, ClickHouseHandle, ClickHouseOptions } from './client.js'
export { RETENTION_TABLES, loadMigrations, migrate, migrationPlan, retentionDaysColumnValue } from './migrations.js'
export type { Migration, MigrationOptions, MigrationPlan, Statement } from './migrations.js'
export { SHARDING_KEYS, clusterTarget, createClusterDdl } from './cluster.js'
export type { ClusterDdl, ClusterDdlOptions, ClusterTarget } from './cluster.js'
export { insertRowBinary } from './insert.js'
export type { RowBinaryInsert } from './insert.js'
export { createHttpInterface } from './http-interface.js'
export type { HttpInterface, HttpInterfaceLogger, HttpInterfaceOptions } from './http-interface.js'
