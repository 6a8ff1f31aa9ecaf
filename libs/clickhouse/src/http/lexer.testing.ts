// A stand-in for the engine's tokenizeQuery() over the simple statements the unit tests use: the
// code under test reads token types and offsets, not the engine's lexing.
import type { Token } from './statement.js'

export function lex(query: string): Token[] {
  const kinds: Array<[RegExp, string]> = [
    [/^\s+/, 'Whitespace'],
    [/^\/\*[\s\S]*?\*\//, 'Comment'],
    [/^--[^\n]*/, 'Comment'],
    [/^'(?:[^'\\]|\\.)*'/, 'StringLiteral'],
    [/^`[^`]*`/, 'QuotedIdentifier'],
    [/^[A-Za-z_][A-Za-z0-9_]*/, 'BareWord'],
    [/^\d+/, 'Number'],
    [/^\./, 'Dot'],
    [/^;/, 'Semicolon'],
    [/^\(/, 'OpeningRoundBracket'],
    [/^\)/, 'ClosingRoundBracket'],
    [/^./, 'Other'],
  ]
  const tokens: Token[] = []
  for (let pos = 0; pos < query.length; ) {
    const [m, type] = kinds.map(([re, t]) => [re.exec(query.slice(pos))?.[0], t] as const).find(([m]) => m !== undefined)!
    tokens.push({ begin: pos, end: pos + m!.length, type })
    pos += m!.length
  }
  return tokens
}
