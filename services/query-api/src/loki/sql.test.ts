import { describe, expect, it } from 'vitest'
import { Params, bodyContains } from './sql.js'

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
