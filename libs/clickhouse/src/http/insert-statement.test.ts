import { describe, expect, it } from 'vitest'
import { compressionOf, fromInfileStatement, insertData } from './insert-statement.js'
import type { AstNode } from './statement.js'
import { lex } from './lexer.testing.js'


const INSERT: AstNode = { name: 'InsertQuery', detail: '', children: [{ name: 'Identifier', detail: 't', children: [] }] }
const INSERT_SELECT: AstNode = { ...INSERT, children: [...INSERT.children, { name: 'SelectWithUnionQuery', detail: '', children: [] }] }
const parse = (query: string, ast = INSERT) => insertData(Buffer.from(query), lex(query), ast)

describe('INSERTs with rows in the request', () => {
  it('cuts @clickhouse/client insert() and exec() statements into head, settings and format', () => {
    expect(parse('INSERT INTO sluice.logs (`id`, `tenant`) SETTINGS optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0 FORMAT RowBinary\n')).toEqual({
      head: 'INSERT INTO sluice.logs (`id`, `tenant`)',
      settings: 'optimize_on_insert = 0, throw_on_max_partitions_per_insert_block = 0',
      format: 'RowBinary',
      inline: Buffer.alloc(0),
    })
    expect(parse('INSERT INTO t FORMAT JSONEachRow\n')).toMatchObject({ head: 'INSERT INTO t', settings: undefined, format: 'JSONEachRow' })
    expect(parse('insert into table `my db`.`t` (a) format `TabSeparated`')).toMatchObject({ head: 'insert into table `my db`.`t` (a)', format: 'TabSeparated' })
  })

  it('takes VALUES as the Values format, and rows inline after the first newline or the blanks', () => {
    expect(parse("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')")).toMatchObject({ head: 'INSERT INTO t (a, b)', format: 'Values', inline: Buffer.from("(1, 'x'), (2, 'y')") })
    expect(parse('INSERT INTO t FORMAT JSONEachRow  \n {"a":1}\n')?.inline.toString()).toBe(' {"a":1}\n')
    expect(parse('INSERT INTO t FORMAT JSONEachRow {"a":1}')?.inline.toString()).toBe('{"a":1}')
    expect(parse('INSERT INTO t FORMAT CSV\r\n1,2')?.inline.toString()).toBe('1,2')
  })

  it('does not mistake a table or column named like a keyword for a clause', () => {
    expect(parse('INSERT INTO settings (format, values) FORMAT CSV')).toMatchObject({ head: 'INSERT INTO settings (format, values)', settings: undefined, format: 'CSV' })
    expect(parse('INSERT INTO db.format FORMAT CSV')).toMatchObject({ head: 'INSERT INTO db.format' })
  })

  it('blanks comments, so none can swallow the FROM INFILE clause put after the head', () => {
    const insert = parse('INSERT INTO t -- the table\n (a) /* cols */ FORMAT CSV')!
    expect(insert.head).toBe('INSERT INTO t  \n (a)')
    expect(fromInfileStatement(insert, "/data/it's.rows", 'gzip', { string: (s) => `'${s.replace(/'/g, "\\'")}'`, identifier: (s) => `\`${s}\`` })).toBe(
      "INSERT INTO t  \n (a) FROM INFILE '/data/it\\'s.rows' COMPRESSION 'gzip' FORMAT `CSV`",
    )
  })

  it('puts the settings after FROM INFILE, where ClickHouse takes them', () => {
    const insert = parse('INSERT INTO t SETTINGS async_insert = 0 FORMAT RowBinary')!
    expect(fromInfileStatement(insert, '/f', undefined, { string: (s) => `'${s}'`, identifier: (s) => s })).toBe("INSERT INTO t FROM INFILE '/f' SETTINGS async_insert = 0 FORMAT RowBinary")
  })

  it('leaves every other statement to run as it is', () => {
    expect(parse('INSERT INTO t SELECT 1', INSERT_SELECT)).toBeUndefined()
    expect(parse("INSERT INTO t FROM INFILE '/etc/x' FORMAT CSV")).toBeUndefined()
    expect(parse('INSERT INTO t (a)')).toBeUndefined()
    expect(parse('SELECT 1 FORMAT CSV', { name: 'SelectWithUnionQuery', detail: '', children: [] })).toBeUndefined()
  })

  it('reads table functions as targets', () => {
    expect(parse("INSERT INTO FUNCTION null('a UInt8') FORMAT CSV")).toMatchObject({ head: "INSERT INTO FUNCTION null('a UInt8')", format: 'CSV' })
  })
})

describe('request compression', () => {
  it('names each Content-Encoding as FROM INFILE does, and refuses the unknown', () => {
    expect(compressionOf(undefined)).toBeUndefined()
    expect(compressionOf('identity')).toBeUndefined()
    expect(compressionOf('GZIP')).toBe('gzip')
    expect(compressionOf('zstd')).toBe('zstd')
    expect(compressionOf('compress')).toBeNull()
  })
})
