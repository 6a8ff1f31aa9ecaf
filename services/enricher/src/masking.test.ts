import { describe, expect, it } from 'vitest'
import { LOGHUB_DATASETS, loadLoghub } from './loghub.js'
import { DEFAULT_MASKS, compileMasks } from './masking.js'
import type { MaskRule } from './masking.js'

const mask = compileMasks(DEFAULT_MASKS)

describe('default masks', () => {
  it.each([
    ['peer 2001:db8::8a2e:370:7334 and fe80::1 and ::1', 'peer <IP> and <IP> and <IP>'],
    ['std::string at 12:30:45 failed', 'std::string at <NUM>:<NUM>:<NUM> failed'],
    ['from 192.168.0.1:5432, not 1.2.3.4.5', 'from <IP>, not 1.2.3.4.5'],
    ['blk_-1608999687919862906 replicated to 3 nodes', 'blk_<NUM> replicated to <NUM> nodes'],
    ['sha 3f786850e387550fdab836ed7e6dc881de23001b ok', 'sha <HEX> ok'],
    ['word deadbeef stays, user42 stays, 2.5MB masks, 100% masks', 'word deadbeef stays, user42 stays, <NUM> masks, <NUM> masks'],
    ['GET /api/v1/users HTTP/1.1 from /health', 'GET <PATH> HTTP/<NUM> from /health'],
    ['req 123e4567-e89b-12d3-a456-426614174000 on worker-7-a', 'req <UUID> on worker-<NUM>-a'],
  ])('%s', (input, expected) => {
    expect(mask(input)).toBe(expected)
  })

  it('accepts string patterns and escapes $ in placeholders', () => {
    const m = compileMasks([{ pattern: '\\d+', replacement: '$n' }])
    expect(m('a 1 b 22')).toBe('a $n b $n')
  })

  it('skips a rule whose hint is absent without changing the result', () => {
    const m = compileMasks([{ pattern: /x+/g, replacement: '<X>', hint: 'x' }])
    expect(m('abc')).toBe('abc')
    expect(m('axxb')).toBe('a<X>b')
  })

  it('runs a rule with a list of hints only on text holding every one of them', () => {
    // Hints narrower than the pattern, so which texts the rule ran on shows in the result.
    const m = compileMasks([{ pattern: /\d+/g, replacement: '<N>', hint: ['a', /b\d/] }])
    expect([m('a b1 2'), m('b1 2'), m('a 1'), m('1')]).toEqual(['a b<N> <N>', 'b1 2', 'a 1', '1'])
  })

  it('tests a regex hint afresh on every text, even one compiled with the g flag', () => {
    const m = compileMasks([{ pattern: /x+/g, replacement: '<X>', hint: /x/g }])
    expect([m('axb'), m('axb'), m('ab')]).toEqual(['a<X>b', 'a<X>b', 'ab'])
  })
})

describe('rules with a scan in place of their regex', () => {
  const scanned = DEFAULT_MASKS.filter((r) => r.scan !== undefined)
  const byRegex = (r: MaskRule): MaskRule => ({ ...r, scan: undefined })

  /** Seeded strings over the characters the rules care about (word, hex, x, separators, non-ASCII). */
  function fuzz(count: number): string[] {
    let a = 12345
    const rand = () => {
      a = (Math.imul(a, 1103515245) + 12345) >>> 0
      return a / 4294967296
    }
    const alphabet = ['0', '1', '9', 'a', 'f', 'F', 'x', 'X', 'g', 'Z', '_', ' ', '-', '.', ':', '=', '/', '<', '>', 'é', '\u00b5', '0x', 'deadbeef', '12345678', '3f786850e387']
    // Half free text, half words of mostly hex characters, 1–12 long, so every word length
    // around the rule's edges (7, 8, 9; 0x plus 0, 1, 2 digits) comes up with and without a digit
    // or a letter among them.
    const wordChars = ['0', '3', '9', 'a', 'c', 'F', '0x', 'x', 'g', '_']
    const separators = [' ', '-', '.', '=', 'é', '<', ',']
    const pick = (xs: readonly string[]) => xs[Math.floor(rand() * xs.length)]!
    return Array.from({ length: count }, (_, n) => {
      let s = ''
      if (n % 2 === 0) {
        const len = Math.floor(rand() * 24)
        for (let i = 0; i < len; i++) s += pick(alphabet)
        return s
      }
      for (let w = Math.floor(rand() * 4); w >= 0; w--) {
        const len = 1 + Math.floor(rand() * 12)
        for (let i = 0; i < len; i++) s += rand() < 0.9 ? pick(wordChars.slice(0, 6)) : pick(wordChars)
        s += pick(separators)
      }
      return s
    })
  }

  it('there is one to check (the hex rule)', () => {
    expect(scanned.map((r) => r.name)).toContain('hex')
  })

  it.each(scanned.map((r) => [r.name, r] as const))('%s: the scan replaces exactly what the regex does', (_name, rule) => {
    const scan = compileMasks([rule])
    const regex = compileMasks([byRegex(rule)])
    const texts = [
      '',
      '0x',
      '0x1F',
      '0X1f_',
      '00x1234',
      'x0x12',
      'deadbeef 12345678 3f786850 abc12345d',
      'id=3f786850e387,0xff;é0123456789abcdefé',
      '_3f786850e387 3f786850e387_ 3f786850e387g',
      ...fuzz(20_000),
      ...LOGHUB_DATASETS.flatMap((d) => loadLoghub(d).content),
    ]
    const differing = texts.filter((t) => scan(t) !== regex(t))
    expect(differing).toEqual([])
  })

  it('the default masks give the same text with the scans as with the regexes alone', () => {
    const fast = compileMasks(DEFAULT_MASKS)
    const slow = compileMasks(DEFAULT_MASKS.map(byRegex))
    const lines = LOGHUB_DATASETS.flatMap((d) => loadLoghub(d).content)
    expect(lines.filter((l) => fast(l) !== slow(l))).toEqual([])
  })
})
