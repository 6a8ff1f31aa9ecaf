import { describe, expect, it } from 'vitest'
import { UNPARSEABLE, exactNumbers, fromJson, jsonText, parseJson, parseNdjson } from './body.js'

describe('parseNdjson', () => {
  it('parses one object per line, skipping blank lines and CRLF', () => {
    const r = parseNdjson('{"message":"a"}\r\n\n{"message":"b"}\n')
    expect(r.records).toEqual([{ message: 'a' }, { message: 'b' }])
    expect(r.errors).toEqual([])
  })

  it('keeps indexes aligned and reports the bad line', () => {
    const r = parseNdjson('{"message":"a"}\n{oops\n{"message":"c"}')
    expect(r.records).toHaveLength(3)
    expect(r.records[1]).toBe(UNPARSEABLE)
    expect(r.errors).toEqual([{ index: 1, field: '', message: expect.stringContaining('invalid JSON') }])
  })
})

describe('fromJson', () => {
  it('accepts one object or an array', () => {
    expect(fromJson({ a: 1 }).records).toEqual([{ a: 1 }])
    expect(fromJson([{ a: 1 }, { b: 2 }]).records).toHaveLength(2)
  })
})

describe('jsonText', () => {
  it('skips a leading UTF-8 byte order mark, and only a leading one', () => {
    expect(JSON.parse(jsonText(Buffer.from('\ufeff{"a":1}')))).toEqual({ a: 1 })
    expect(jsonText(Buffer.from('{"a":"\ufeff"}'))).toBe('{"a":"\ufeff"}')
    expect(jsonText(Buffer.from([0xef, 0xbb]))).toBe('\ufffd')
  })
})

describe('exactNumbers', () => {
  it('writes numbers of more than 15 significant digits as strings, leaving strings and shorter numbers alone', () => {
    const text = '{"t":1763899200123456789,"s":"1763899200123456789 x","f":-1763899200.123456789,"n":[1,2.5,1e300,0.0000000000000001234,123456789012345],"e":"\\"99999999999999999\\""}'
    expect(JSON.parse(exactNumbers(text))).toEqual({ t: '1763899200123456789', s: '1763899200123456789 x', f: '-1763899200.123456789', n: [1, 2.5, 1e300, 0.0000000000000001234, 123456789012345], e: '"99999999999999999"' })
    expect(exactNumbers('{"a":1}')).toBe('{"a":1}')
  })
})

describe('parseJson', () => {
  it('reads a record with a top-level number a double cannot hold (a time, perhaps under its own name) with its long numbers as text', () => {
    expect(parseJson('{"timestamp":1763899200123456789,"message":"m","a":{"n":12345678901234567}}')).toEqual({ timestamp: '1763899200123456789', message: 'm', a: { n: '12345678901234567' } })
    expect(parseJson('[{"ts":1763899200.123456789},{"time":1}]')).toEqual([{ ts: '1763899200.123456789' }, { time: 1 }])
    expect(parseJson('{"date":1763899200123.456789}')).toEqual({ date: '1763899200123.456789' })
    // Numbers a double holds exactly (ms, µs, seconds to the µs), and long ones only below the top: as JSON.parse reads them.
    for (const line of ['{"timestamp":1763899200123,"a":{"n":12345678901234567}}', '{"time":1763899200.123456}', '{"ts":1763899200123456}', '{"latency":0.1234567,"x":1e21}']) expect(parseJson(line)).toEqual(JSON.parse(line))
  })
})
