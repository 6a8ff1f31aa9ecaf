// Whatever a client writes as a template, compiling it answers an expression or a SluiceError (a
// 400), never another exception (a 500).
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import { Params } from './sql.js'
import { compileTemplate } from './template.js'
import { prng as random } from '../loki-fixture.js'

const PIECES = ['{{', '}}', '{{-', '-}}', '|', '(', ')', '"', '`', ' ', '.a', '.b', 'upper', 'trunc', 'replace', 'printf', '"%s"', '"%d"', '-1', '5', '__line__', 'if', 'else', 'end', 'eq', 'and', 'not', 'contains', '__timestamp__', 'date', '"2006"', 'x', '\\', '"\\u00e9"', '%', 'add', 'divf', 'round', 'int', 'float64', 'maxf', 'regexReplaceAll', 'count', 'title', 'b64dec', '1.5', '"a+"', '"(a)|b"', '"$1"', '"%.2f"']

describe('template compilation', () => {
  it('answers an expression or a 400 for any template', () => {
    const next = random(42)
    let compiled = 0
    for (let n = 0; n < 20_000; n++) {
      const template = Array.from({ length: 1 + Math.floor(next() * 12) }, () => PIECES[Math.floor(next() * PIECES.length)]).join('')
      try {
        expect(typeof compileTemplate(template, { p: new Params(), label: () => "''", line: 'Body', timestamp: 'Timestamp' }).sql).toBe('string')
        compiled++
      } catch (err) {
        if (!isSluiceError(err)) throw new Error(`template ${JSON.stringify(template)} threw ${String(err)}`)
      }
    }
    // The mix holds both: templates that compile and templates refused.
    expect(compiled).toBeGreaterThan(1_000)
    expect(compiled).toBeLessThan(20_000)
  })
})
