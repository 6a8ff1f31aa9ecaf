import { describe, expect, it } from 'vitest'
import { expandParts, re2, re2Error } from './re2.js'

describe('re2', () => {
  it("compiles Go's syntax and refuses in Go's words", () => {
    expect(re2('(?i)(?P<a>x)[[:alpha:]]\\pL').matches('XaÉ')).toBe(true)
    expect(re2Error('(')).toBe('error parsing regexp: missing closing ): `(`')
    expect(re2Error('x{2,1}')).toBe('error parsing regexp: invalid repeat count: `{2,1}`')
    expect(re2Error('(?P<n>x)')).toBeUndefined()
  })
})

describe('expandParts', () => {
  // The cases of Go's regexp.Expand: what extract reads as a name, a number or plain text.
  it('reads $n, ${n}, $name, ${name} and $$ as Go does', () => {
    expect(expandParts('a$1b')).toEqual([{ text: 'a' }, { name: '1b' }])
    expect(expandParts('a${1}b')).toEqual([{ text: 'a' }, { group: 1 }, { text: 'b' }])
    expect(expandParts('$$1-${x}-$héllo_2.')).toEqual([{ text: '$1-' }, { name: 'x' }, { text: '-' }, { name: 'héllo_2' }, { text: '.' }])
    // A leading zero, or nine digits and more, make a name (no group has it: empty).
    expect(expandParts('$01 $123456789 $12345678')).toEqual([{ name: '01' }, { text: ' ' }, { name: '123456789' }, { text: ' ' }, { group: 12345678 }])
    // A $ that starts no reference stays as it is: unclosed braces, no name, the end.
    expect(expandParts('${1 $- $')).toEqual([{ text: '${1 $- $' }])
    expect(expandParts('')).toEqual([])
  })
})
