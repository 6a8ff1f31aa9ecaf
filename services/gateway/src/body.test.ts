import { describe, expect, it } from 'vitest'
import { UNPARSEABLE, fromJson, jsonText, parseNdjson } from './body.js'

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
