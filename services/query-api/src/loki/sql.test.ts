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

  it('adds a LIKE for each end piece of a term across separators, the LIKE of the whole last', () => {
    expect(contains('quarantine-zk7q')).toEqual({
      sql: '(Body LIKE {p1:String} AND Body LIKE {p2:String} AND Body LIKE {p0:String})',
      values: { p0: '%quarantine-zk7q%', p1: '%quarantine%', p2: '%zk7q%' },
    })
  })

  it('asks for a piece between two separators as a whole token', () => {
    const { sql, values } = contains('user=alice action=login')
    expect(values).toEqual({ p0: '%user=alice action=login%', p1: '%user%', p2: 'alice', p3: 'action', p4: '%login%' })
    expect(sql).toBe('(Body LIKE {p1:String} AND hasToken(Body, {p2:String}) AND hasToken(Body, {p3:String}) AND Body LIKE {p4:String} AND Body LIKE {p0:String})')
    // Both ends bounded by separators: every piece is whole.
    expect(contains(' GET /api/orders ').values).toEqual({ p0: '% GET /api/orders %', p1: 'orders' })
  })

  it('leaves out pieces too short to narrow, and adds nothing when none is long enough', () => {
    expect(contains('10.0.0.1')).toEqual({ sql: 'Body LIKE {p0:String}', values: { p0: '%10.0.0.1%' } })
    expect(contains('db-1 refused').values).toEqual({ p0: '%db-1 refused%', p1: '%refused%' })
  })

  it('treats bytes beyond ASCII as letters, as the index tokenizer does', () => {
    expect(contains('café-crème').values).toEqual({ p0: '%café-crème%', p1: '%café%', p2: '%crème%' })
  })
})
