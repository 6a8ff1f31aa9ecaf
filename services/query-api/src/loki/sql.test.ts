import { describe, expect, it } from 'vitest'
import { Params, bodyContains, bodyMatches, patternRegex, regexLiteral } from './sql.js'

const contains = (s: string) => {
  const p = new Params()
  return { sql: bodyContains(s, p), values: p.values }
}

describe('bodyContains', () => {
  it('is one LIKE for a single run of letters and digits, wildcards escaped', () => {
    expect(contains('timeout')).toEqual({ sql: 'Body LIKE {p0:String}', values: { p0: '%timeout%' } })
    expect(contains('50%_off\\').values).toEqual({ p0: '%50\\%\\_off\\\\%' })
  })

  it('asks for every piece between two separators as a whole token', () => {
    expect(contains('user=alice action=login')).toEqual({
      sql: '(hasToken(Body, {p1:String}) AND hasToken(Body, {p2:String}) AND Body LIKE {p0:String})',
      values: { p0: '%user=alice action=login%', p1: 'alice', p2: 'action' },
    })
    // Both ends bounded by separators: every piece is whole.
    expect(contains(' GET /api/orders ').values).toEqual({ p0: '% GET /api/orders %', p1: 'orders' })
  })

  it('without whole pieces, adds a LIKE of the longest piece at an end', () => {
    expect(contains('quarantine-zk7q')).toEqual({
      sql: '(Body LIKE {p1:String} AND Body LIKE {p0:String})',
      values: { p0: '%quarantine-zk7q%', p1: '%quarantine%' },
    })
    expect(contains('db-1 refused').values).toEqual({ p0: '%db-1 refused%', p1: '%refused%' })
  })

  it('adds nothing when no piece is long enough to narrow', () => {
    expect(contains('10.0.0.1')).toEqual({ sql: 'Body LIKE {p0:String}', values: { p0: '%10.0.0.1%' } })
    expect(contains('a-b-c')).toEqual({ sql: 'Body LIKE {p0:String}', values: { p0: '%a-b-c%' } })
  })

  it('treats characters beyond ASCII as letters, as the index tokenizer does', () => {
    expect(contains('café-crème').values).toEqual({ p0: '%café-crème%', p1: '%crème%' })
    expect(contains('x-café-y').values).toEqual({ p0: '%x-café-y%', p1: 'café' })
  })
})

describe('regexLiteral', () => {
  it('reads plain text, punctuation escapes and a leading (?i)', () => {
    expect(regexLiteral('quarantine-zk7q')).toEqual({ text: 'quarantine-zk7q', ignoreCase: false })
    expect(regexLiteral('GET /api/v1\\.2')).toEqual({ text: 'GET /api/v1.2', ignoreCase: false })
    expect(regexLiteral('(?i)Connection refused')).toEqual({ text: 'Connection refused', ignoreCase: true })
  })

  it('is undefined for anything a regular expression does beyond plain text', () => {
    for (const re of ['a.b', 'ab+', 'a|b', '^ab', 'ab$', '[ab]', 'a{2}', '(ab)', '\\d+', '\\bword', 'a\\ b', '(?i)', '', 'x(?i)y', 'end\\']) {
      expect(regexLiteral(re), re).toBeUndefined()
    }
  })
})

describe('bodyMatches', () => {
  const matches = (re: string) => {
    const p = new Params()
    return { sql: bodyMatches(re, p), values: p.values }
  }

  it('searches a plain text as bodyContains does', () => {
    expect(matches('quarantine\\-zk7q')).toEqual(contains('quarantine-zk7q'))
  })

  it('keeps the match for (?i) text, narrowed by the longest piece ILIKE reads as RE2 does', () => {
    expect(matches('(?i)QUARANTINE-ZK7Q')).toEqual({
      sql: '(Body ILIKE {p1:String} AND match(Body, {p0:String}))',
      values: { p0: '(?i)QUARANTINE-ZK7Q', p1: '%QUARANTINE%' },
    })
    // k and s split: RE2 folds them with the Kelvin sign and the long s, ILIKE does not.
    expect(matches('(?i)Basket timeouts').values).toEqual({ p0: '(?i)Basket timeouts', p1: '%timeout%' })
    expect(matches('(?i)sks').sql).toBe('match(Body, {p0:String})')
  })

  it('leaves any other regular expression to match()', () => {
    expect(matches('err(or)?')).toEqual({ sql: 'match(Body, {p0:String})', values: { p0: 'err(or)?' } })
  })
})

describe('patternRegex', () => {
  it('matches each capture lazily up to the next literal, the last to the end of the line', () => {
    expect(patternRegex('<ip> - <_> "<method> <path> <_>"')).toEqual({ re: '^(?P<ip>.*?) - (?:.*?) "(?P<method>.*?) (?P<path>.*?) (?:.*?)"', names: ['ip', 'method', 'path'] })
    expect(patternRegex('level=<level> <msg>')).toEqual({ re: '^level=(?P<level>.*?) (?P<msg>.*)', names: ['level', 'msg'] })
  })

  it("refuses what Loki's pattern parser refuses, with its words and in its order", () => {
    expect(() => patternRegex('foo <_> bar <_>')).toThrow(/^at least one capture is required$/)
    expect(() => patternRegex('<a><b>')).toThrow(/^found consecutive capture '<a><b>': invalid expression$/)
    expect(() => patternRegex('<a> f<_><b>')).toThrow(/^found consecutive capture '<_><b>': invalid expression$/)
    expect(() => patternRegex('<a><a>')).toThrow(/^found consecutive capture '<a><a>': invalid expression$/)
    expect(() => patternRegex('<a> x <a>')).toThrow(/^duplicate capture name \(a\): invalid expression$/)
  })
})
