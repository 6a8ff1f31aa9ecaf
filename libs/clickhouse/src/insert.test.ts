import { describe, expect, it } from 'vitest'
import { createClickHouse } from './client.js'
import { withoutLowCardinality } from './insert.js'
import { quoteIdentifier, quoteString } from './sql-quote.js'

describe('withoutLowCardinality', () => {
  it('unwraps LowCardinality wherever it is nested, leaving other types as they are', () => {
    expect(withoutLowCardinality('LowCardinality(String)')).toBe('String')
    expect(withoutLowCardinality('Map(LowCardinality(String), String)')).toBe('Map(String, String)')
    expect(withoutLowCardinality('Array(LowCardinality(Nullable(String)))')).toBe('Array(Nullable(String))')
    expect(withoutLowCardinality('Tuple(a LowCardinality(String), b DateTime64(9))')).toBe('Tuple(a String, b DateTime64(9))')
    expect(withoutLowCardinality('Nullable(UInt16)')).toBe('Nullable(UInt16)')
  })

  it('leaves quoted literals alone, even ones that look like LowCardinality(', () => {
    expect(withoutLowCardinality("Enum8('LowCardinality(' = 1, 'it\\'s)' = 2)")).toBe("Enum8('LowCardinality(' = 1, 'it\\'s)' = 2)")
    expect(withoutLowCardinality("LowCardinality(Enum8('a)' = 1))")).toBe("Enum8('a)' = 1)")
  })
})

describe('SQL quoting', () => {
  it('escapes back quotes, single quotes and backslashes', () => {
    expect(quoteIdentifier('we`ird\\name')).toBe('`we\\`ird\\\\name`')
    expect(quoteString("/data/it's\\here")).toBe("'/data/it\\'s\\\\here'")
  })
})

describe('createClickHouse', () => {
  it('refuses an embedded data directory that ClickHouse’s file() would read as a glob', async () => {
    for (const dataDir of ['/tmp/a*b', '/tmp/what?', '/tmp/{a,b}']) {
      await expect(createClickHouse({ dataDir })).rejects.toMatchObject({ code: 'CONFIG_INVALID' })
    }
  })
})
