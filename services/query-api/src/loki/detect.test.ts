import { describe, expect, it } from 'vitest'
import { detectFields } from './detect.js'

describe('detected fields', () => {
  it('types json, logfmt and metadata fields, counts distinct values and names the parsers', () => {
    const fields = detectFields([
      { line: '{"status":200,"took":"1.5s","req":{"path":"/a"},"ok":true}', meta: { trace_id: 't1', detected_level: 'info' } },
      { line: '{"status":503,"took":"250ms","req":{"path":"/b"},"ok":false,"ratio":0.5}', meta: { trace_id: 't2' } },
      { line: 'status=404 size=10KB msg="not found"', meta: {} },
    ])
    const by = Object.fromEntries(fields.map((f) => [f.label, f]))
    expect(by.status).toMatchObject({ type: 'int', cardinality: 3, parsers: ['json', 'logfmt'] })
    expect(by.took).toMatchObject({ type: 'duration', cardinality: 2, parsers: ['json'], jsonPath: ['took'] })
    expect(by.req_path).toMatchObject({ type: 'string', jsonPath: ['req', 'path'] })
    expect(by.ok).toMatchObject({ type: 'boolean' })
    expect(by.ratio).toMatchObject({ type: 'float' })
    expect(by.size).toMatchObject({ type: 'bytes', parsers: ['logfmt'] })
    expect(by.msg!.values).toEqual(new Set(['not found']))
    expect(by.trace_id).toMatchObject({ type: 'string', cardinality: 2, parsers: null })
    expect(by.detected_level).toMatchObject({ type: 'string', cardinality: 1, parsers: null }) // Drilldown's level filter reads its values
  })

  it('types Go durations as the label filters read them', () => {
    const fields = detectFields([{ line: '{"a":".5s","b":"-1.5h30m","c":"1μs","d":"1h.5m","e":"-0","f":"1e3s","g":".s","h":"5","i":"5.s"}', meta: {} }])
    const type = Object.fromEntries(fields.map((f) => [f.label, f.type]))
    expect(type).toEqual({ a: 'duration', b: 'duration', c: 'duration', d: 'string', e: 'int', f: 'string', g: 'string', h: 'int', i: 'string' })
  })

  it("finds the fields `| logfmt` extracts, as Loki's decoder reads the line", () => {
    const fields = detectFields([{ line: 'path=/pay=now 9z=1 a.b="x \\"y\\"" k= k=2 "q"=3 k=4', meta: {} }])
    // `path=/pay=now` and `"q"=3` are errors; keys sanitised; the first pair of a key with a value wins.
    expect(Object.fromEntries(fields.map((f) => [f.label, [...f.values]]))).toEqual({ _9z: ['1'], a_b: ['x "y"'], k: ['2'] })
  })

  it('widens int to float and anything else mixed to string', () => {
    const [n] = detectFields([{ line: 'n=1', meta: {} }, { line: 'n=1.5', meta: {} }])
    expect(n).toMatchObject({ label: 'n', type: 'float' })
    const [m] = detectFields([{ line: 'm=1', meta: {} }, { line: 'm=abc', meta: {} }])
    expect(m).toMatchObject({ label: 'm', type: 'string' })
  })
})
