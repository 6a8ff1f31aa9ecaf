import { describe, expect, it } from 'vitest'
import { parseCsv, parseCsvObjects } from './csv.js'

describe('parseCsv', () => {
  it('reads quoted fields holding commas, doubled quotes and line breaks', () => {
    const text = 'a,b,c\r\n1,"x, y","say ""hi"""\n2,"two\nlines",\n'
    expect(parseCsv(text)).toEqual([
      ['a', 'b', 'c'],
      ['1', 'x, y', 'say "hi"'],
      ['2', 'two\nlines', ''],
    ])
  })

  it('keeps a last record without a trailing line break', () => {
    expect(parseCsv('a,b\n1,2')).toEqual([['a', 'b'], ['1', '2']])
  })

  it('reads a Loghub row into an object keyed by the header', () => {
    const text =
      'LineId,Date,Time,Level,Component,Content,EventId,EventTemplate\n' +
      '1,17/06/09,20:10:40,INFO,executor.CoarseGrainedExecutorBackend,"Registered signal handlers for [TERM, HUP, INT]",E22,"Registered signal handlers for [TERM, HUP, INT]"\n'
    expect(parseCsvObjects(text)[0]).toMatchObject({ LineId: '1', Content: 'Registered signal handlers for [TERM, HUP, INT]', EventId: 'E22' })
  })

  it('rejects an unterminated quote', () => {
    expect(() => parseCsv('a,"b')).toThrow(SyntaxError)
  })
})
