// Which statements of the service user are INSERTs whose rows travel with the request, and how to
// run them on the embedded engine. @clickhouse/client sends them as ClickHouse's HTTP interface
// takes them:
//   insert()             POST /?query=INSERT INTO t (a, b) FORMAT JSONEachRow     body: the rows
//   exec({ values })     POST /?query=INSERT INTO t (…) SETTINGS … FORMAT RowBinary   body: the rows
//   command()            POST /   body: INSERT INTO t FORMAT JSONEachRow\n{"a":1}    (rows inline)
// with the body gzip-compressed (Content-Encoding) when the client compresses requests. The engine
// cannot take the rows as a query's text (binary formats hold NUL bytes, and the SQL is a C
// string), so they go to a temporary file and the statement becomes
//   INSERT INTO t (a, b) FROM INFILE '<file>' [COMPRESSION 'gzip'] [SETTINGS …] FORMAT <fmt>
// FROM INFILE reads the file as the table's own INSERT would read the body: any input format, the
// table's DEFAULT expressions for omitted fields, any column list ClickHouse takes (`* EXCEPT`),
// compressed input decompressed by the engine.
//
// The statement is told apart by ClickHouse's parser (EXPLAIN AST: an InsertQuery without a
// SELECT), and cut by its lexer's tokens: the table and column list end where the first SETTINGS,
// FORMAT or VALUES keyword at bracket depth 0 begins. Comments become spaces, so none can swallow
// the FROM INFILE clause put in their place.
import { isSelect } from './statement.js'
import type { AstNode, Token } from './statement.js'

export interface InsertData {
  /** `INSERT INTO <table> [(columns)]`, comments blanked. */
  head: string
  /** The SETTINGS clause's text without the keyword, when there is one. */
  settings: string | undefined
  /** The input format; `Values` for VALUES. */
  format: string
  /** Rows that followed the format in the text itself (ClickHouse's rule: after the first newline, else after the whitespace). */
  inline: Buffer
}

const INSIGNIFICANT = new Set(['Whitespace', 'Comment'])

/** The INSERT of `query` whose rows follow its text, or undefined for any other statement (INSERT … SELECT included). */
export function insertData(query: Uint8Array, tokens: readonly Token[], ast: AstNode): InsertData | undefined {
  if (ast.name !== 'InsertQuery' || ast.children.some(isSelect)) return undefined
  const bytes = Buffer.from(query.buffer, query.byteOffset, query.byteLength)
  const text = (t: Token) => bytes.subarray(t.begin, t.end).toString('utf8')
  const significant = tokens.filter((t) => !INSIGNIFICANT.has(t.type))
  const word = (i: number) => (significant[i]?.type === 'BareWord' ? text(significant[i]!).toUpperCase() : undefined)

  let i = significant.findIndex((_t, n) => word(n) === 'INTO')
  if (i < 0) return undefined
  i++
  if (word(i) === 'TABLE') i++
  // The target: a table name (`db.t`), or TABLE FUNCTION/FUNCTION f(…); then an optional column list.
  if (word(i) === 'FUNCTION' || (word(i) === 'TABLE' && word(i + 1) === 'FUNCTION')) {
    i += word(i) === 'FUNCTION' ? 1 : 2
    i = afterBrackets(significant, i + 1)
  } else {
    i++
    while (significant[i]?.type === 'Dot') i += 2
  }
  if (significant[i]?.type === 'OpeningRoundBracket') i = afterBrackets(significant, i)

  // Then: [SETTINGS …] FORMAT <name> | VALUES. Anything else there (FROM INFILE, PARTITION BY) is
  // a statement without rows in the request.
  let settingsAt: number | undefined
  let clauseAt: number | undefined
  const isClause = (n: number) => word(n) === 'FORMAT' || word(n) === 'VALUES'
  if (word(i) === 'SETTINGS') {
    settingsAt = i
    let depth = 0
    for (let n = i + 1; n < significant.length; n++) {
      const t = significant[n]!
      if (t.type === 'OpeningRoundBracket') depth++
      else if (t.type === 'ClosingRoundBracket') depth--
      else if (depth === 0 && isClause(n)) {
        clauseAt = n
        break
      }
    }
  } else if (isClause(i)) {
    clauseAt = i
  }
  if (clauseAt === undefined) return undefined
  const clause = significant[clauseAt]!
  let format = 'Values'
  let dataFrom = clause.end
  if (word(clauseAt) === 'FORMAT') {
    const name = significant[clauseAt + 1]
    if (name?.type !== 'BareWord' && name?.type !== 'QuotedIdentifier') return undefined
    format = name.type === 'QuotedIdentifier' ? text(name).slice(1, -1) : text(name)
    dataFrom = name.end
  }
  const firstClause = significant[settingsAt ?? clauseAt]!
  return {
    head: blanked(bytes, tokens, 0, firstClause.begin),
    settings: settingsAt === undefined ? undefined : blanked(bytes, tokens, significant[settingsAt]!.end, clause.begin),
    format,
    inline: bytes.subarray(dataStart(bytes, dataFrom)),
  }
}

/** The statement that reads the rows from `file`: FROM INFILE takes the place of the data clause. */
export function fromInfileStatement(insert: InsertData, file: string, compression: string | undefined, quote: { string(s: string): string; identifier(s: string): string }): string {
  return [
    insert.head,
    `FROM INFILE ${quote.string(file)}`,
    ...(compression !== undefined ? [`COMPRESSION ${quote.string(compression)}`] : []),
    ...(insert.settings !== undefined ? [`SETTINGS ${insert.settings}`] : []),
    `FORMAT ${quote.identifier(insert.format)}`,
  ].join(' ')
}

// ClickHouse's HTTP Content-Encoding names, as the COMPRESSION clause of FROM INFILE names them.
const COMPRESSIONS: Readonly<Record<string, string>> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br', xz: 'xz', zstd: 'zstd', lz4: 'lz4', bz2: 'bz2', snappy: 'snappy' }

/** The COMPRESSION for a request's Content-Encoding: undefined for none, null for one the engine cannot read. */
export function compressionOf(contentEncoding: string | undefined): string | undefined | null {
  const encoding = (contentEncoding ?? '').trim().toLowerCase()
  if (encoding === '' || encoding === 'identity') return undefined
  return COMPRESSIONS[encoding] ?? null
}

/** The index after the bracket group opening at `open` (or `open` itself when no bracket opens there). */
function afterBrackets(tokens: readonly Token[], open: number): number {
  if (tokens[open]?.type !== 'OpeningRoundBracket') return open
  let depth = 0
  for (let n = open; n < tokens.length; n++) {
    if (tokens[n]!.type === 'OpeningRoundBracket') depth++
    else if (tokens[n]!.type === 'ClosingRoundBracket' && --depth === 0) return n + 1
  }
  return tokens.length
}

/** The text of bytes [from, to) with every comment token replaced by a space, trimmed. */
function blanked(bytes: Buffer, tokens: readonly Token[], from: number, to: number): string {
  let out = ''
  for (const t of tokens) {
    if (t.end <= from || t.begin >= to) continue
    out += t.type === 'Comment' ? ' ' : bytes.subarray(Math.max(t.begin, from), Math.min(t.end, to)).toString('utf8')
  }
  return out.trim()
}

/** Where the rows start after the data clause: after the first newline if only blanks precede it, else after the blanks. */
function dataStart(bytes: Buffer, from: number): number {
  let p = from
  while (p < bytes.length && (bytes[p] === 0x20 || bytes[p] === 0x09 || bytes[p] === 0x0c)) p++
  if (bytes[p] === 0x0d) p++
  if (bytes[p] === 0x0a) p++
  return p
}
