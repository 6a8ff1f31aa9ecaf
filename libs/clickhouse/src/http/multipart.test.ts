import { describe, expect, it } from 'vitest'
import { multipartBoundary, parseMultipart } from './multipart.js'

describe('multipart/form-data', () => {
  const body = (boundary: string, parts: string[]) => Buffer.from(`--${boundary}\r\n${parts.join(`\r\n--${boundary}\r\n`)}\r\n--${boundary}--\r\n`)

  it('reads the text fields clients send (query and param_*)', () => {
    const b = '----clickhouse-js-1'
    expect(multipartBoundary(`multipart/form-data; boundary=${b}`)).toBe(b)
    expect(multipartBoundary('text/plain')).toBeUndefined()
    const fields = parseMultipart(body(b, ['Content-Disposition: form-data; name="query"\r\n\r\nSELECT {x:String}', 'Content-Disposition: form-data; name="param_x"\r\n\r\nline 1\r\nline 2']), b)
    expect(Object.fromEntries(fields)).toEqual({ query: 'SELECT {x:String}', param_x: 'line 1\r\nline 2' })
  })

  it('refuses external data (file parts)', () => {
    expect(() => parseMultipart(body('b', ['Content-Disposition: form-data; name="t"; filename="t.tsv"\r\n\r\n1']), 'b')).toThrow(/external data/)
  })
})
