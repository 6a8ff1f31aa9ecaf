// The errors go-errors.ts writes for __error_details__, against the texts Go itself prints: each row
// is a value and what strconv.ParseFloat, time.ParseDuration and go-humanize v1.0.1's ParseBytes
// (Loki's converters) return for it, as a Go program printed them (go1.26; '' where Go reads the value).
import { afterAll, beforeAll, expect, it } from 'vitest'
import { openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'
import { parseBytesError, parseDurationError, parseFloatError, wordTag } from './go-errors.js'

const GO: readonly (readonly [value: string, parseFloat: string, parseDuration: string, parseBytes: string])[] = [
  ['abc', 'strconv.ParseFloat: parsing "abc": invalid syntax', 'time: invalid duration "abc"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['5x', 'strconv.ParseFloat: parsing "5x": invalid syntax', 'time: unknown unit "x" in duration "5x"', 'unhandled size name: x'],
  ['1h30', 'strconv.ParseFloat: parsing "1h30": invalid syntax', 'time: missing unit in duration "1h30"', 'unhandled size name: h30'],
  ['', 'strconv.ParseFloat: parsing "": invalid syntax', 'time: invalid duration ""', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['.s', 'strconv.ParseFloat: parsing ".s": invalid syntax', 'time: invalid duration ".s"', 'strconv.ParseFloat: parsing ".": invalid syntax'],
  ['1.2.3s', 'strconv.ParseFloat: parsing "1.2.3s": invalid syntax', 'time: missing unit in duration "1.2.3s"', 'strconv.ParseFloat: parsing "1.2.3": invalid syntax'],
  ['5 KB', 'strconv.ParseFloat: parsing "5 KB": invalid syntax', 'time: unknown unit " KB" in duration "5 KB"', ''],
  ['a"b\\c\n\t\u0001\u007f', 'strconv.ParseFloat: parsing "a\\"b\\\\c\\n\\t\\x01\\x7f": invalid syntax', 'time: invalid duration "a\\"b\\\\c\\x0a\\x09\\x01\u007f"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['é5', 'strconv.ParseFloat: parsing "é5": invalid syntax', 'time: invalid duration "\\xc3\\xa95"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['99999999999999999999h', 'strconv.ParseFloat: parsing "99999999999999999999h": invalid syntax', 'time: invalid duration "99999999999999999999h"', 'unhandled size name: h'],
  ['-', 'strconv.ParseFloat: parsing "-": invalid syntax', 'time: invalid duration "-"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['+5q', 'strconv.ParseFloat: parsing "+5q": invalid syntax', 'time: unknown unit "q" in duration "+5q"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['5.5.5', 'strconv.ParseFloat: parsing "5.5.5": invalid syntax', 'time: missing unit in duration "5.5.5"', 'strconv.ParseFloat: parsing "5.5.5": invalid syntax'],
  ['1,0.0XB', 'strconv.ParseFloat: parsing "1,0.0XB": invalid syntax', 'time: unknown unit "," in duration "1,0.0XB"', 'unhandled size name: xb'],
  ['12 zb', 'strconv.ParseFloat: parsing "12 zb": invalid syntax', 'time: unknown unit " zb" in duration "12 zb"', 'unhandled size name: zb'],
  ['1e3s', 'strconv.ParseFloat: parsing "1e3s": invalid syntax', 'time: unknown unit "e" in duration "1e3s"', 'unhandled size name: e3s'],
  ['5.s', 'strconv.ParseFloat: parsing "5.s": invalid syntax', '', 'unhandled size name: s'],
  ['1h.5m', 'strconv.ParseFloat: parsing "1h.5m": invalid syntax', '', 'unhandled size name: h.5m'],
  ['soon', 'strconv.ParseFloat: parsing "soon": invalid syntax', 'time: invalid duration "soon"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['00x', 'strconv.ParseFloat: parsing "00x": invalid syntax', 'time: unknown unit "x" in duration "00x"', 'unhandled size name: x'],
  ['12µx', 'strconv.ParseFloat: parsing "12µx": invalid syntax', 'time: unknown unit "\\xc2\\xb5x" in duration "12\\xc2\\xb5x"', 'unhandled size name: µx'],
  ['1_0', '', 'time: unknown unit "_" in duration "1_0"', 'unhandled size name: _0'],
  ['  5KB', 'strconv.ParseFloat: parsing "  5KB": invalid syntax', 'time: invalid duration "  5KB"', 'strconv.ParseFloat: parsing "": invalid syntax'],
  ['5KB  x', 'strconv.ParseFloat: parsing "5KB  x": invalid syntax', 'time: unknown unit "KB  x" in duration "5KB  x"', 'unhandled size name: kb  x'],
  ['1.5h2', 'strconv.ParseFloat: parsing "1.5h2": invalid syntax', 'time: missing unit in duration "1.5h2"', 'unhandled size name: h2'],
  ['9223372036854775808h', 'strconv.ParseFloat: parsing "9223372036854775808h": invalid syntax', 'time: invalid duration "9223372036854775808h"', 'unhandled size name: h'],
  ['9223372036854775809s', 'strconv.ParseFloat: parsing "9223372036854775809s": invalid syntax', 'time: invalid duration "9223372036854775809s"', 'unhandled size name: s'],
  ['0x10', 'strconv.ParseFloat: parsing "0x10": invalid syntax', 'time: unknown unit "x" in duration "0x10"', 'unhandled size name: x10'],
]

let store: TestStore
beforeAll(async () => {
  store = await openTestStore('go-errors')
})
afterAll(() => store?.close())

it('words each refusal as Go does, quoting the value as strconv.Quote and the time package do', async () => {
  const rows = await store.ch.client.query({
    query: `SELECT v, ${parseFloatError('v')} AS f, ${parseDurationError('v')} AS d, ${parseBytesError('v')} AS b FROM (SELECT arrayJoin({values:Array(String)}) AS v)`,
    query_params: { values: GO.map((r) => r[0]) },
    format: 'JSONEachRow',
  })
  const got = new Map(((await rows.json()) as { v: string; f: string; d: string; b: string }[]).map((r) => [r.v, [r.f, r.d, r.b]]))
  const mismatches = GO.flatMap(([v, ...want]) => want.map((w, i) => ({ v, converter: ['ParseFloat', 'ParseDuration', 'ParseBytes'][i], want: w, got: got.get(v)?.[i] })).filter((m) => m.want !== '' && m.want !== m.got))
  expect(mismatches).toEqual([])
  expect(GO.flatMap((r) => r.slice(1)).filter((w) => w !== '').length).toBeGreaterThan(70)
})

it('words the tags of answered lines (TypeScript) as Go does, for the same values', () => {
  const tag = (letter: string, v: string) => `\u0000${letter}${v}`
  const mismatches = GO.flatMap(([v, ...want]) =>
    ['F', 'D', 'B'].map((letter, i) => ({ v, converter: letter, want: want[i], got: wordTag(tag(letter, v)) })).filter((m) => m.want !== '' && m.want !== m.got),
  )
  expect(mismatches).toEqual([])
  expect(wordTag('Value looks like object')).toBe('Value looks like object')
})
