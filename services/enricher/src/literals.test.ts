import { describe, expect, it } from 'vitest'
import { prng } from '../../../test/benchmarks/records.js'
import { DEFAULT_RULES } from './default-rules.js'
import { LiteralScanner, MIN_LITERAL, requiredLiterals } from './literals.js'

const sorted = (xs: string[] | undefined) => xs && [...xs].sort()

describe('requiredLiterals', () => {
  it('spells out optional parts, small classes and alternations', () => {
    expect(sorted(requiredLiterals('rate limit(ed)? exceeded'))).toEqual(['rate limit exceeded', 'rate limited exceeded'])
    expect(sorted(requiredLiterals('brute[- ]?force|\\bxss\\b'))).toEqual(['brute force', 'brute-force', 'bruteforce', 'xss'])
    expect(requiredLiterals('(ab){2}c')).toEqual(['ababc'])
  })

  it('keeps the most selective run of a pattern with unknown parts', () => {
    expect(requiredLiterals('killed process \\d+')).toEqual(['killed process '])
    expect(requiredLiterals('ab\\w+connection refused\\s*x')).toEqual(['connection refused'])
    expect(requiredLiterals('hikaripool.*(timeout|not available)')).toEqual(['hikaripool'])
    expect(requiredLiterals('(?:deadlock)+')).toEqual(['deadlock'])
  })

  it('gives up when a branch has no literal, or only short ones', () => {
    expect(requiredLiterals('timeout|\\d+')).toBeUndefined()
    expect(requiredLiterals('ab')).toBeUndefined()
    expect(requiredLiterals("'\\s*or\\s+'?1")).toBeUndefined()
    expect(requiredLiterals('(abc)?')).toBeUndefined()
    expect(requiredLiterals('[^x]+|.*')).toBeUndefined()
    expect(requiredLiterals('(a)\\1bc')).toBeUndefined()
  })

  it('finds literals for nearly every default rule', () => {
    const withMessage = DEFAULT_RULES.rules.filter((r) => r.message !== undefined)
    const prefiltered = withMessage.filter((r) => requiredLiterals(r.message!) !== undefined)
    expect(prefiltered.length).toBeGreaterThanOrEqual(withMessage.length - 1)
    for (const r of prefiltered) for (const l of requiredLiterals(r.message!)!) expect(l.length).toBeGreaterThanOrEqual(MIN_LITERAL)
  })

  // Soundness over random patterns and texts: whenever a regex matches, a literal is in the text.
  it('never rules out a text the regex matches', () => {
    const rand = prng(7)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
    const atoms = ['a', 'b', 'c', 'ab', 'ba', 'abc', '[ab]', '[a-c]', '\\d', '.', '-', ' ', '\\b', '\\w']
    const part = (depth: number): string => {
      const r = rand()
      if (depth > 2 || r < 0.45) return pick(atoms)
      if (r < 0.65) return `(${part(depth + 1)}${part(depth + 1)}|${part(depth + 1)})`
      if (r < 0.8) return `(?:${part(depth + 1)}${part(depth + 1)})${pick(['?', '+', '*', '{2}', '{1,2}'])}`
      return part(depth + 1) + part(depth + 1)
    }
    let matched = 0
    let prefiltered = 0
    for (let p = 0; p < 400; p++) {
      const source = Array.from({ length: 2 + Math.floor(rand() * 4) }, () => part(0)).join('')
      const re = new RegExp(source)
      const literals = requiredLiterals(source)
      if (literals) prefiltered++
      for (let t = 0; t < 200; t++) {
        const text = Array.from({ length: Math.floor(rand() * 24) }, () => pick(['a', 'b', 'c', '1', ' ', '-', 'x'])).join('')
        if (!re.test(text)) continue
        matched++
        if (literals && !literals.some((l) => text.includes(l))) expect.fail(`/${source}/ matches "${text}" but none of ${JSON.stringify(literals)} is in it`)
      }
    }
    // The check above must have had work to do.
    expect(matched).toBeGreaterThan(5000)
    expect(prefiltered).toBeGreaterThan(50)
  })
})

describe('LiteralScanner', () => {
  it('reports every group with a literal in the text, overlapping ones included', () => {
    const scanner = new LiteralScanner([['he', 'hers'], ['she'], ['his'], ['ü-ber']])
    const found = (text: string) => {
      scanner.scan(text)
      return [0, 1, 2, 3].filter((g) => scanner.found(g))
    }
    expect(found('ushers')).toEqual([0, 1])
    expect(found('this')).toEqual([2])
    expect(found('nothing here')).toEqual([0])
    expect(found('')).toEqual([])
    expect(found('das ist ü-ber')).toEqual([3])
  })

  it('agrees with includes() on random texts', () => {
    const rand = prng(11)
    const word = (n: number) => Array.from({ length: n }, () => 'abcé'[Math.floor(rand() * 4)]).join('')
    const groups = Array.from({ length: 12 }, () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => word(2 + Math.floor(rand() * 3))))
    const scanner = new LiteralScanner(groups)
    for (let t = 0; t < 2000; t++) {
      const text = word(Math.floor(rand() * 30))
      scanner.scan(text)
      groups.forEach((lits, g) => expect(scanner.found(g), `${JSON.stringify(lits)} in "${text}"`).toBe(lits.some((l) => text.includes(l))))
    }
  })
})
