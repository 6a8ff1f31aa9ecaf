// INSERT of rows already encoded as RowBinary, for callers that encode their rows themselves:
// ClickHouse reads RowBinary without parsing, where most of a JSONEachRow insert goes on parsing
// text. The same call works on both backends:
// - server: the bytes are the HTTP request body of `INSERT … FORMAT RowBinary`;
// - embedded (chdb): the @clickhouse/client connection decodes an insert body as UTF-8 text, which
//   would corrupt binary rows, and chdb's own raw insert accepts only text formats, so the bytes
//   go to a temporary file that ClickHouse reads with file(); file() needs the columns' types, read
//   once per table from system.columns (or given by the caller).
// `optimize_on_insert = 0`: ReplacingMergeTree then skips collapsing duplicates inside the insert
// block (a sort per insert); duplicates still collapse at merges and under FINAL, which is what
// readers rely on anyway. `throw_on_max_partitions_per_insert_block = 0`: a batch whose records
// span more than 100 days (old files replayed, clocks far off) is written, with a warning in the
// server log, instead of failing on every retry and holding up the partition behind it.
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import { SluiceError } from '@sluice/core'
import type { ClickHouseHandle } from './client.js'
import { quoteIdentifier, quoteString } from './sql-quote.js'

const INSERT_SETTINGS = 'optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0'

export interface RowBinaryInsert {
  /** `database.table`, or `table` in the client's default database. */
  table: string
  /** The columns each row holds, in the order the rows hold them; the others take their defaults. */
  columns: readonly string[]
  /**
   * RowBinary rows of those columns, back to back (no header): one buffer, or several read as
   * one after the other (blocks encoded apart are written as they are, not joined first).
   */
  bytes: Uint8Array | readonly Uint8Array[]
  /**
   * Embedded only: the columns as `name Type, …`, the types as the rows encode them. When absent
   * it is read from system.columns, once per handle, table and column list.
   */
  structure?: string
}

/** Inserts RowBinary rows; fails with a retryable SluiceError('CLICKHOUSE_INSERT_FAILED'). */
export async function insertRowBinary(handle: ClickHouseHandle, insert: RowBinaryInsert): Promise<void> {
  const chunks = insert.bytes instanceof Uint8Array ? [insert.bytes] : insert.bytes
  let total = 0
  for (const c of chunks) total += c.length
  if (total === 0) return
  const target = `${qualifiedName(insert.table)} (${insert.columns.map(quoteIdentifier).join(', ')})`
  try {
    if (handle.mode === 'server') await insertOverHttp(handle, target, chunks)
    else await insertFromFile(handle, target, insert, chunks)
  } catch (err) {
    if (err instanceof SluiceError) throw err
    throw new SluiceError('CLICKHOUSE_INSERT_FAILED', `insert into ${insert.table} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err, canRetry: true })
  }
}

async function insertOverHttp(handle: ClickHouseHandle, target: string, chunks: readonly Uint8Array[]): Promise<void> {
  const result = await handle.client.exec({
    query: `INSERT INTO ${target} SETTINGS ${INSERT_SETTINGS} FORMAT RowBinary`,
    values: Readable.from(chunks, { objectMode: false }),
  })
  // The (empty) response must be read to the end for the socket to go back to the pool.
  for await (const _chunk of result.stream) void _chunk
}

async function insertFromFile(handle: ClickHouseHandle, target: string, insert: RowBinaryInsert, chunks: readonly Uint8Array[]): Promise<void> {
  const structure = insert.structure ?? (await structureOf(handle, insert.table, insert.columns))
  const file = await temporaryInsertFile(handle, 'rowbinary')
  try {
    // An iterable is written chunk by chunk.
    await writeFile(file, chunks.length === 1 ? chunks[0]! : chunks, { flag: 'wx' })
    await handle.client.command({
      query: `INSERT INTO ${target} SETTINGS ${INSERT_SETTINGS} SELECT * FROM file(${quoteString(file)}, 'RowBinary', ${quoteString(structure)})`,
    })
  } catch (err) {
    // A table changed under a cached structure is read again on the retry.
    forgetStructure(handle, insert.table, insert.columns)
    throw err
  } finally {
    await rm(file, { force: true })
  }
}

// ---- temporary files ---------------------------------------------------------------------------

/**
 * A new path for rows the engine of `handle` (embedded) reads back (file(), FROM INFILE): inside
 * its data directory, named for this process. The caller writes it (flag `wx`) and removes it.
 * The ClickHouse HTTP interface puts the rows of its service user's INSERTs there too.
 */
export async function temporaryInsertFile(handle: ClickHouseHandle, extension: string): Promise<string> {
  return path.join(await tempDir(handle), `${process.pid}-${randomBytes(8).toString('hex')}.${extension}`)
}

/** Inside the data directory: a place Sluice owns, on the data's filesystem, not shared like /tmp. */
const TEMP_DIR_NAME = 'sluice-insert'
const tempDirs = new WeakMap<ClickHouseHandle, Promise<string>>()

/** The handle's temporary directory, created on first use; files a previous process left behind (it crashed mid-insert) are removed then. */
function tempDir(handle: ClickHouseHandle): Promise<string> {
  let dir = tempDirs.get(handle)
  if (dir === undefined) {
    dir = prepareTempDir(path.join(handle.location, TEMP_DIR_NAME))
    tempDirs.set(handle, dir)
    dir.catch(() => tempDirs.delete(handle))
  }
  return dir
}

async function prepareTempDir(dir: string): Promise<string> {
  // file() reads these as globs, unescapably (createClickHouse refuses such a data directory).
  if (/[*?{]/.test(dir)) throw new SluiceError('CONFIG_INVALID', `${dir} contains *, ? or {, which ClickHouse's file() reads as a glob`)
  await mkdir(dir, { recursive: true })
  const ours = `${process.pid}-`
  for (const name of await readdir(dir)) {
    if (!name.startsWith(ours)) await rm(path.join(dir, name), { force: true, recursive: true })
  }
  return dir
}

// ---- table structure ---------------------------------------------------------------------------

const structures = new WeakMap<ClickHouseHandle, Map<string, Promise<string>>>()

const structureKey = (table: string, columns: readonly string[]) => `${table}\n${columns.join('\n')}`

function structureOf(handle: ClickHouseHandle, table: string, columns: readonly string[]): Promise<string> {
  let cache = structures.get(handle)
  if (cache === undefined) structures.set(handle, (cache = new Map()))
  const key = structureKey(table, columns)
  let structure = cache.get(key)
  if (structure === undefined) {
    const reading = readStructure(handle, table, columns)
    // A failed read is not kept: the table may exist by the retry (migrations still running).
    reading.catch(() => {
      if (cache.get(key) === reading) cache.delete(key)
    })
    cache.set(key, (structure = reading))
  }
  return structure
}

function forgetStructure(handle: ClickHouseHandle, table: string, columns: readonly string[]): void {
  structures.get(handle)?.delete(structureKey(table, columns))
}

/**
 * `name Type, …` for file(), in the columns' order, the types as the table declares them but
 * without LowCardinality: both read the same RowBinary, and file() building dictionaries that the
 * INSERT then rebuilds for the table measured ~4 µs per row dearer for the logs table
 * (Map(LowCardinality(String), String) most of all) than plain columns converted on insert.
 */
async function readStructure(handle: ClickHouseHandle, table: string, columns: readonly string[]): Promise<string> {
  const [database, name] = splitName(table)
  const rs = await handle.client.query({
    query: `SELECT name, type FROM system.columns WHERE database = ${database === undefined ? 'currentDatabase()' : '{database:String}'} AND table = {table:String}`,
    query_params: { database, table: name },
    format: 'JSONEachRow',
  })
  const types = new Map((await rs.json<{ name: string; type: string }>()).map((c) => [c.name, c.type]))
  if (types.size === 0) throw new Error(`table ${table} does not exist`)
  return columns
    .map((c) => {
      const type = types.get(c)
      if (type === undefined) throw new Error(`table ${table} has no column ${c}`)
      return `${quoteIdentifier(c)} ${withoutLowCardinality(type)}`
    })
    .join(', ')
}

const LOW_CARDINALITY = 'LowCardinality('

/** `Map(LowCardinality(String), String)` → `Map(String, String)`; quoted literals (Enum names) are left alone. */
export function withoutLowCardinality(type: string): string {
  let out = ''
  // The depths at which a LowCardinality( was dropped: its closing parenthesis goes too.
  const dropped: number[] = []
  let depth = 0
  for (let i = 0; i < type.length; i++) {
    const c = type[i]!
    if (c === "'") {
      // A quoted literal, with backslash escapes, copied whole.
      let j = i + 1
      while (j < type.length && type[j] !== "'") j += type[j] === '\\' ? 2 : 1
      out += type.slice(i, j + 1)
      i = j
    } else if (type.startsWith(LOW_CARDINALITY, i) && (i === 0 || !/\w/.test(type[i - 1]!))) {
      dropped.push(++depth)
      i += LOW_CARDINALITY.length - 1
    } else if (c === '(') {
      depth++
      out += c
    } else if (c === ')') {
      if (dropped.at(-1) === depth) dropped.pop()
      else out += c
      depth--
    } else {
      out += c
    }
  }
  return out
}

// ---- SQL quoting -------------------------------------------------------------------------------

function splitName(table: string): [string | undefined, string] {
  const dot = table.indexOf('.')
  return dot < 0 ? [undefined, table] : [table.slice(0, dot), table.slice(dot + 1)]
}

function qualifiedName(table: string): string {
  const [database, name] = splitName(table)
  return database === undefined ? quoteIdentifier(name) : `${quoteIdentifier(database)}.${quoteIdentifier(name)}`
}

