// Which statements the analyst interface runs, decided by ClickHouse's own lexer and parser rather
// than by patterns over SQL text. The engine session of every query is already read-only
// (readonly = 1 refuses writes, DDL, SYSTEM, changing settings, and the table functions that reach
// files, URLs and other servers); what readonly = 1 lets through in an embedded engine is refused
// here:
// - INTO OUTFILE: chdb writes the file itself (the client side of clickhouse-local), readonly or not;
// - KILL QUERY: allowed to readonly users, it would cancel the sink's inserts; like every statement
//   other than SELECT, SHOW, DESCRIBE, EXISTS, EXPLAIN and USE, it is not run;
// - the scalar function file() (and catboostEvaluate, which loads a file): an embedded engine reads
//   any path of the host with it, where a server keeps to user_files;
// - with a tenant scope, table functions that read tables around the row filters (merge(),
//   mergeTreeIndex(), …): only generators like numbers() and view() over filtered tables remain.
//
// Lexer tokens come from tokenizeQuery() (pure: the query is a string literal there), and are
// checked before the statement ever reaches the parser in an executable position: one statement
// (no `;` followed by more), no INTO OUTFILE, no PARALLEL WITH (which would run several). The
// parser's verdict then comes from `EXPLAIN AST <query>`, which parses without executing.
import { refusal } from './errors.js'

/** One token of tokenizeQuery(): byte offsets into the query, and ClickHouse's token type. */
export interface Token {
  begin: number
  end: number
  type: string
}

/** tokenizeQuery()'s answer in JSONCompactEachRow: `[[{"begin":0,"end":6,"type":"BareWord"}, …], …]`. */
export function parseTokens(json: string): Token[] {
  type Raw = { begin: number | string; end: number | string; type: string } | [number | string, number | string, string]
  const row = JSON.parse(json) as [Raw[]]
  return row[0].map((t) => (Array.isArray(t) ? { begin: Number(t[0]), end: Number(t[1]), type: t[2] } : { begin: Number(t.begin), end: Number(t.end), type: t.type }))
}

const INSIGNIFICANT = new Set(['Whitespace', 'Comment'])

/**
 * Refuses what must not reach the parser in an executable position, and returns the statement's
 * FORMAT clause (its identifier at bracket depth 0), if any.
 */
export function inspectTokens(query: Uint8Array, tokens: readonly Token[]): { format: string | undefined } {
  const text = (t: Token) => Buffer.from(query.buffer, query.byteOffset + t.begin, t.end - t.begin).toString('utf8')
  const significant = tokens.filter((t) => !INSIGNIFICANT.has(t.type))
  const word = (i: number) => (significant[i]?.type === 'BareWord' ? text(significant[i]!).toUpperCase() : undefined)
  let depth = 0
  let format: string | undefined
  for (let i = 0; i < significant.length; i++) {
    const t = significant[i]!
    if (t.type === 'OpeningRoundBracket') depth++
    else if (t.type === 'ClosingRoundBracket') depth--
    else if (t.type === 'Semicolon') {
      if (significant.slice(i + 1).some((n) => n.type !== 'Semicolon')) throw refusal('SYNTAX_ERROR', 'Syntax error (Multi-statements are not allowed)')
    } else if (word(i) === 'INTO' && word(i + 1) === 'OUTFILE') {
      throw refusal('INTO_OUTFILE_NOT_ALLOWED', 'INTO OUTFILE is not allowed')
    } else if (word(i) === 'PARALLEL' && word(i + 1) === 'WITH') {
      throw refusal('READONLY', 'Cannot execute query in readonly mode: PARALLEL WITH is not allowed')
    } else if (depth === 0 && word(i) === 'FORMAT') {
      const next = significant[i + 1]
      if (next?.type === 'BareWord') format = text(next)
      else if (next?.type === 'QuotedIdentifier') format = text(next).slice(1, -1)
    }
  }
  return { format }
}

/** A node of EXPLAIN AST's dump: `Name details (children N)`, children indented one space deeper. */
export interface AstNode {
  name: string
  /** What follows the name on its line, without the `(children N)` count. */
  detail: string
  children: AstNode[]
}

export function parseAst(dump: string): AstNode {
  const root: AstNode = { name: '', detail: '', children: [] }
  const stack: Array<{ node: AstNode; depth: number }> = [{ node: root, depth: -1 }]
  for (const line of dump.split('\n')) {
    if (line.trim() === '') continue
    const depth = line.length - line.trimStart().length
    const content = line.trim().replace(/\s*\(children \d+\)$/, '')
    const space = content.indexOf(' ')
    const node: AstNode = { name: space < 0 ? content : content.slice(0, space), detail: space < 0 ? '' : content.slice(space + 1).trim(), children: [] }
    while (stack.length > 1 && stack.at(-1)!.depth >= depth) stack.pop()
    stack.at(-1)!.node.children.push(node)
    stack.push({ node, depth })
  }
  const top = root.children[0]
  if (!top || root.children.length > 1) throw new Error(`unexpected EXPLAIN AST answer: ${dump.slice(0, 200)}`)
  return top
}

export type StatementKind = 'select' | 'other'

export interface Statement {
  kind: StatementKind
  /** The FORMAT clause, when the statement has one. */
  format: string | undefined
}

const SELECT_NODES = new Set(['SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'SelectQuery'])
const OTHER_NODES = new Set(['DescribeQuery', 'Explain', 'UseQuery'])
const isAllowedOther = (name: string) => OTHER_NODES.has(name) || name.startsWith('Show') || name.startsWith('Exists')
/** Scalar functions that read files of the host. */
const FILE_FUNCTIONS = new Set(['file', 'catboostEvaluate'])
/** Table functions that read no table (generators), or only through a query whose reads are filtered. */
const SCOPED_TABLE_FUNCTIONS = new Set(['numbers', 'numbers_mt', 'zeros', 'zeros_mt', 'generateSeries', 'generate_series', 'values', 'null', 'view', 'primes', 'generateRandom'])

/**
 * Decides from the parsed statement whether it runs, and how: `select` statements stream, the
 * others (SHOW, DESCRIBE, EXISTS, EXPLAIN, USE) answer in one piece.
 */
export function classify(ast: AstNode, tokenFormat: string | undefined, policy: { tenantScoped: boolean }): Statement {
  const kind: StatementKind | undefined = SELECT_NODES.has(ast.name) ? 'select' : isAllowedOther(ast.name) ? 'other' : undefined
  if (kind === undefined) throw refusal('READONLY', 'Cannot execute query in readonly mode')
  walk(ast, undefined, (node, parent) => {
    if (node.name !== 'Function') return
    const fn = node.detail.split(' ')[0] ?? ''
    if (FILE_FUNCTIONS.has(fn)) throw refusal('ACCESS_DENIED', `Function ${fn} is not allowed: it reads files of the host running Sluice`)
    if (policy.tenantScoped && parent?.name === 'TableExpression' && !SCOPED_TABLE_FUNCTIONS.has(fn)) {
      throw refusal('ACCESS_DENIED', `Table function ${fn} is not allowed for a tenant-scoped user: it could read rows of other tenants`)
    }
  })
  return { kind, format: formatClause(ast, tokenFormat) }
}

/** A statement of the service user (Sluice's own processes): any statement runs; SELECTs stream. */
export function serviceStatement(ast: AstNode, tokenFormat: string | undefined): Statement {
  return { kind: isSelect(ast) ? 'select' : 'other', format: formatClause(ast, tokenFormat) }
}

export const isSelect = (ast: AstNode): boolean => SELECT_NODES.has(ast.name)

/** The FORMAT clause is the statement's last direct Identifier child; the lexer found where it is. */
function formatClause(ast: AstNode, tokenFormat: string | undefined): string | undefined {
  const formatNode = ast.children.filter((c) => c.name === 'Identifier').at(-1)
  return tokenFormat !== undefined && formatNode?.detail.split(' ')[0]?.toLowerCase() === tokenFormat.toLowerCase() ? tokenFormat : undefined
}

function walk(node: AstNode, parent: AstNode | undefined, visit: (node: AstNode, parent: AstNode | undefined) => void): void {
  visit(node, parent)
  for (const child of node.children) walk(child, node, visit)
}
