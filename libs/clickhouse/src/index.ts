// @sluice/clickhouse — client factory (server or embedded chdb) and versioned migrations.
export { createClickHouse, pingClickHouse } from './client.js'
export type { ClickHouseClient, ClickHouseHandle, ClickHouseOptions } from './client.js'
export { migrate, loadMigrations } from './migrations.js'
export type { Migration, MigrationOptions } from './migrations.js'
