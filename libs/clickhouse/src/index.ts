// @sluice/clickhouse — client factory (server or embedded chdb), versioned migrations, and
// inserts of rows the caller encoded as RowBinary, and ClickHouse's HTTP interface (read-only) over the
// embedded engine for analysts.
export { createClickHouse, pingClickHouse } from './client.js'
export type { ClickHouseClient, ClickHouseHandle, ClickHouseOptions } from './client.js'
export { RETENTION_TABLES, loadMigrations, migrate, retentionDaysColumnValue } from './migrations.js'
export type { Migration, MigrationOptions } from './migrations.js'
export { insertRowBinary } from './insert.js'
export type { RowBinaryInsert } from './insert.js'
export { createHttpInterface } from './http-interface.js'
export type { HttpInterface, HttpInterfaceLogger, HttpInterfaceOptions } from './http-interface.js'
