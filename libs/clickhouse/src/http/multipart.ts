// multipart/form-data bodies, which @clickhouse/client and clickhouse-connect send when query
// parameters are too long for the URL: every part is a named text field (`query`, `param_<name>`).
// A part with a file name is external data (a temporary table sent with the query), which this
// interface does not take.
import { refusal } from './errors.js'

/** The boundary of a multipart/form-data Content-Type, or undefined for any other type. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\b/i.test(contentType)) return undefined
  const m = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType)
  return m?.[1] ?? m?.[2]
}

/** The text fields of a multipart/form-data body, by name. */
export function parseMultipart(body: Buffer, boundary: string): Map<string, string> {
  const fields = new Map<string, string>()
  const delimiter = Buffer.from(`--${boundary}`)
  let pos = body.indexOf(delimiter)
  if (pos < 0) throw refusal('BAD_ARGUMENTS', 'multipart/form-data body without its boundary')
  for (;;) {
    pos += delimiter.length
    if (body.subarray(pos, pos + 2).toString() === '--') return fields
    pos = skipNewline(body, pos)
    const headerEnd = body.indexOf('\r\n\r\n', pos)
    if (headerEnd < 0) throw refusal('BAD_ARGUMENTS', 'multipart/form-data part without headers')
    const headers = body.subarray(pos, headerEnd).toString('utf8')
    const next = body.indexOf(Buffer.from(`\r\n--${boundary}`), headerEnd + 4)
    if (next < 0) throw refusal('BAD_ARGUMENTS', 'multipart/form-data body cut short')
    const disposition = /^content-disposition:\s*form-data(.*)$/im.exec(headers)?.[1] ?? ''
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1]
    if (/;\s*filename=/i.test(disposition)) throw refusal('NOT_IMPLEMENTED', 'external data (file parts of multipart/form-data) is not supported by this interface')
    if (name !== undefined) fields.set(name, body.subarray(headerEnd + 4, next).toString('utf8'))
    pos = next + 2
  }
}

function skipNewline(body: Buffer, pos: number): number {
  if (body[pos] === 0x0d && body[pos + 1] === 0x0a) return pos + 2
  if (body[pos] === 0x0a) return pos + 1
  return pos
}
