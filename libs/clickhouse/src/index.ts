// @sluice/clickhouse — client factory (server or embedded chdb), versioned migrations, and
// inserts of rows the caller encoded as RowBinary.
export { createClickHouse, pingClickHouse } from './client.js'
export type { ClickHouseClient, ClickHouseHandle, ClickHouseOptions } from './client.js'
export { migrate, loadMigrations } from './migrations.js'
export type { Migration, MigrationOptions } from './migrations.js'
export { insertRowBinary } from './insert.js'
export type { RowBinaryInsert } from './insert.js'
