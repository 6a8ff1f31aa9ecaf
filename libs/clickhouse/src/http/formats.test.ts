import { describe, expect, it } from 'vitest'
import { headerLength, outputMode } from './formats.js'

describe('output formats', () => {
  it('streams row formats, cuts repeated headers, and buffers documents', () => {
    const none = new Map<string, string>()
    expect(outputMode('Native', none)).toBe('concat')
    expect(outputMode('JSONEachRow', none)).toBe('concat')
    expect(outputMode('JSONEachRow', new Map([['output_format_json_array_of_rows', '1']]))).toBe('buffer')
    expect(outputMode('RowBinaryWithNamesAndTypes', none)).toBe('header')
    expect(outputMode('CSVWithNames', none)).toBe('header')
    for (const f of ['JSON', 'JSONCompact', 'Parquet', 'Arrow', 'Pretty', 'Values', 'XML']) expect(outputMode(f, none), f).toBe('buffer')
  })

  it('measures RowBinaryWithNamesAndTypes headers by their lengths, text headers by lines', () => {
    // 2 columns, names "n", "s", types "UInt64", "String", then a row.
    const rb = Buffer.from('02016e0173' + '0655496e743634' + '06537472696e67' + '0100000000000000' + '0131', 'hex')
    expect(headerLength('RowBinaryWithNamesAndTypes', rb)).toBe(1 + 2 + 2 + 7 + 7)
    expect(headerLength('RowBinaryWithNames', rb)).toBe(5)
    expect(headerLength('TSVWithNamesAndTypes', Buffer.from('n\ts\nUInt64\tString\n1\ta\n'))).toBe(18)
    expect(headerLength('CSVWithNames', Buffer.from('"a\nb","c"\n1,2\n'))).toBe(10)
    expect(() => headerLength('RowBinaryWithNamesAndTypes', rb.subarray(0, 6))).toThrow()
  })
})
