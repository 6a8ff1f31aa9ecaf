import { describe, expect, it } from 'vitest'
import { ClickHouseHttpError } from './errors.js'
import { classify, inspectTokens, parseAst, parseTokens } from './statement.js'
import { lex } from './lexer.testing.js'

const inspect = (query: string) => inspectTokens(Buffer.from(query), lex(query))
const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (err) {
    return err instanceof ClickHouseHttpError ? err.code : -1
  }
  return 0
}

describe('lexer checks', () => {
  it('reads tokenizeQuery() rows as objects or arrays', () => {
    expect(parseTokens('[[{"begin":0,"end":6,"type":"BareWord"},["6","7","Whitespace"]]]')).toEqual([
      { begin: 0, end: 6, type: 'BareWord' },
      { begin: 6, end: 7, type: 'Whitespace' },
    ])
  })

  it('takes one statement, with a trailing semicolon or a semicolon inside a string', () => {
    expect(code(() => inspect("SELECT ';' AS s FROM logs;"))).toBe(0)
    expect(code(() => inspect('SELECT 1; SELECT 2'))).toBe(62)
    expect(code(() => inspect('SELECT 1; -- just a comment'))).toBe(0)
  })

  it('refuses INTO OUTFILE in any case and around comments, and PARALLEL WITH', () => {
    expect(code(() => inspect("SELECT 1 into /* c */ OutFile 'x'"))).toBe(358)
    expect(code(() => inspect("SELECT 'INTO OUTFILE' AS text"))).toBe(0)
    expect(code(() => inspect('SELECT 1 PARALLEL WITH SELECT 2'))).toBe(164)
  })

  it('finds the FORMAT clause at bracket depth 0, quoted or not', () => {
    expect(inspect('SELECT format FROM (SELECT 1 AS format FORMAT TSV) FORMAT `Native`').format).toBe('Native')
    expect(inspect('SELECT 1 FORMAT JSONEachRow SETTINGS max_threads = 1').format).toBe('JSONEachRow')
    expect(inspect('SELECT format(x, y) FROM t').format).toBeUndefined()
  })
})

describe('statements', () => {
  const select = (body: string) => `SelectWithUnionQuery (children 1)\n ExpressionList (children 1)\n  SelectQuery (children 1)\n${body}`
  const tenant = { tenantScoped: true }
  const anyone = { tenantScoped: false }

  it('streams SELECTs and answers SHOW, DESCRIBE, EXISTS, EXPLAIN and USE whole', () => {
    expect(classify(parseAst(select('   ExpressionList (children 1)\n    Literal UInt64_1\n')), undefined, anyone).kind).toBe('select')
    for (const top of ['ShowTables', 'DescribeQuery (children 1)', 'ExistsTableQuery  t (children 1)', 'Explain EXPLAIN (children 1)', 'ShowCreateTableQuery  t (children 1)', 'UseQuery']) {
      expect(classify(parseAst(`${top}\n`), undefined, anyone).kind).toBe('other')
    }
  })

  it('refuses every other statement as ClickHouse refuses it to a readonly user', () => {
    for (const top of ['InsertQuery', 'KillQueryQuery Literal_UInt64_1 ASYNC (children 1)', 'SetQuery', 'AlterQuery', 'DropQuery', 'SystemQuery', 'ParallelWithQuery']) {
      expect(code(() => classify(parseAst(`${top}\n`), undefined, anyone)), top).toBe(164)
    }
  })

  it('refuses file() anywhere, and table functions beyond generators and view() for a tenant', () => {
    const fileFn = select('   ExpressionList (children 1)\n    Function file (alias f) (children 1)\n     ExpressionList (children 1)\n      Literal \'/etc/passwd\'\n')
    expect(code(() => classify(parseAst(fileFn), undefined, anyone))).toBe(497)
    const from = (fn: string) => select(`   TablesInSelectQuery (children 1)\n    TablesInSelectQueryElement (children 1)\n     TableExpression (children 1)\n      Function ${fn} (children 1)\n       ExpressionList (children 1)\n`)
    expect(code(() => classify(parseAst(from('merge')), undefined, anyone))).toBe(0)
    expect(code(() => classify(parseAst(from('merge')), undefined, tenant))).toBe(497)
    expect(code(() => classify(parseAst(from('mergeTreeIndex')), undefined, tenant))).toBe(497)
    expect(code(() => classify(parseAst(from('numbers')), undefined, tenant))).toBe(0)
    expect(code(() => classify(parseAst(from('view')), undefined, tenant))).toBe(0)
  })

  it('takes the FORMAT clause only when the parser agrees with the lexer', () => {
    expect(classify(parseAst('ExistsTableQuery db t (children 3)\n Identifier db\n Identifier t\n Identifier JSON\n'), 'JSON', anyone).format).toBe('JSON')
    expect(classify(parseAst('ExistsTableQuery db t (children 2)\n Identifier db\n Identifier t\n'), undefined, anyone).format).toBeUndefined()
    const withFormat = 'SelectWithUnionQuery (children 2)\n ExpressionList (children 1)\n  SelectQuery (children 1)\n   ExpressionList (children 1)\n    Literal UInt64_1\n Identifier JSON\n'
    expect(classify(parseAst(withFormat), 'json', anyone).format).toBe('json')
    expect(classify(parseAst(withFormat), 'TSV', anyone).format).toBeUndefined()
  })
})
