import { describe, expect, it } from 'vitest'
import { csvLine, decodeCursor, encodeCursor } from './records.js'
import { logsQuerySchema } from './logs.js'
import { Params, duration, selectionClauses, where } from './selection.js'

const schema = logsQuerySchema(1000)
/** What fastify's validation hands the error handler: the first issue's path and message. */
const problem = (query: Record<string, unknown>) => {
  const r = schema.safeParse(query)
  return r.success ? undefined : `${r.error.issues[0]!.path.join('.')}: ${r.error.issues[0]!.message}`
}

describe('query parameters', () => {
  it('parses filters, levels and times', () => {
    const p = schema.parse({ q: 'timeout', level: 'warn,error', from: '2025-11-23T12:00:00Z', limit: '5' })
    expect(p).toMatchObject({ q: 'timeout', level: ['WARN', 'ERROR'], from: 1_763_899_200_000_000_000n, limit: 5 })
  })

  it('names the bad parameter', () => {
    expect(problem({ limit: '0' })).toMatch(/^limit:/)
    expect(problem({ limit: '5000' })).toMatch(/^limit:/)
    expect(problem({ from: 'soon' })).toBe('from: expected ISO-8601 or epoch seconds/ms/ns')
    expect(problem({ level: 'loud' })).toBe('level: unknown level "loud"')
    expect(problem({ sevrity: 'x' })).toBe(': unknown parameter(s): sevrity')
  })

  it('takes attr.* and resource.* as attribute filters, one value each', () => {
    const p = schema.parse({ 'attr.city': 'Paris', 'resource.k8s.pod.name': 'api-1', service: 'api' })
    expect(p).toMatchObject({ service: 'api', attributes: { city: 'Paris' }, resources: { 'k8s.pod.name': 'api-1' } })
    expect(p).not.toHaveProperty(['attr.city'])
    expect(problem({ 'attr.city': ['Paris', 'Lyon'] })).toMatch(/^attr\.city:/)
  })

  it('reads durations with units', () => {
    expect(duration.parse('15m')).toBe(900_000)
    expect(duration.parse('90')).toBe(90_000)
    expect(duration.parse('1.5h')).toBe(5_400_000)
    expect(duration.safeParse('0s').success).toBe(false)
    expect(duration.safeParse('soon').success).toBe(false)
  })

  it('binds values as parameters, never into the SQL text', () => {
    const p = new Params()
    const sql = where(selectionClauses('db', { service: "x' OR 1=1 --", from: 5_000_000_000n, attributes: { "k'": "v'" } }, p))
    expect(sql).toBe(
      'WHERE ServiceName = {p0:String} AND TimestampTime >= toDateTime({p1:Int64}) AND Timestamp >= fromUnixTimestamp64Nano({p2:Int64}) AND LogAttributes[{p3:String}] = {p4:String}',
    )
    expect(p.values).toEqual({ p0: "x' OR 1=1 --", p1: '5', p2: '5000000000', p3: "k'", p4: "v'" })
  })
})

describe('records', () => {
  it('round-trips a cursor and refuses anything else', () => {
    const c = encodeCursor('1764547200123456789', '0190a000-0000-7000-8000-00000000002a')
    expect(decodeCursor(c)).toEqual({ tsNs: '1764547200123456789', id: '0190a000-0000-7000-8000-00000000002a' })
    expect(decodeCursor('bm9wZQ')).toBeUndefined()
    expect(decodeCursor(Buffer.from("1|x' OR 1=1").toString('base64url'))).toBeUndefined()
  })

  it('writes RFC 4180 CSV lines', () => {
    expect(csvLine(['a', 'b,c', 'say "hi"', null, 3, { k: 'v' }])).toBe('a,"b,c","say ""hi""",,3,"{""k"":""v""}"\r\n')
  })
})
