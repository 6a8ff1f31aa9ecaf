// `| logfmt` without flags in JavaScript: the labels of the lines a log query answers, read here
// from each returned line instead of by the ClickHouse expression logfmt.ts writes, which costs
// ClickHouse's analyser ~10 ms to plan in every statement. It reads exactly as that expression
// does (see logfmt.ts for the decoder's rules, Loki's): the same tokens, found by the same
// regular expression, told apart by the same tests in the same order. logfmt.int.test.ts holds
// the two equal on Loki's cases and on generated lines of every kind of token.
import { isUtf8 } from 'node:buffer'
import type { Labels } from './output.js'

const KEY = '[^\\x00-\\x20="\\uFFFD]+'
/** One token and the garbage (bytes ≤ 0x20) before it: logfmt.ts's TOKEN. */
const TOKEN = new RegExp(`[\\x00-\\x20]*(?:${KEY}="(?:[^"\\\\]|\\\\.)*"|${KEY}=".*|${KEY}(?:=[^\\x00-\\x20="]*)?(?:[\\x00-\\x20]|$)|[^\\x00-\\x20]+)`, 'gsu')
/** The escapes Loki's unquote reads: \" \\ \/ \' \b \f \n \r \t \uXXXX. */
const ESCAPED = /^(?:[^\\]|\\["\\/'bfnrt]|\\u[0-9a-fA-F]{4})*$/su
/** A quoted value's pieces: a surrogate pair, a \u escape, another escape, plain text. */
const PIECES = /\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\.|[^\\]+/gsu
const ESCAPES: Readonly<Record<string, string>> = { '\\"': '"', '\\\\': '\\', '\\/': '/', "\\'": "'", '\\b': '\b', '\\f': '\f', '\\n': '\n', '\\r': '\r', '\\t': '\t' }
/** Go's unicode.IsSpace beyond ASCII, which TrimSpace trims from a key. */
const TRIM = /^[\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|[\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$/gu
const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

const trimGarbage = (t: string) => {
  let end = t.length
  while (end > 0 && t.charCodeAt(end - 1) <= 0x20) end--
  return t.slice(0, end)
}

/** A quoted value as Loki unquotes it (JSON's escapes and \'; a lone surrogate is U+FFFD). */
function unquote(inner: string): string {
  if (!inner.includes('\\')) return inner
  return inner.replace(PIECES, (t) => {
    if (t[0] !== '\\') return t
    if (t.length === 12) return JSON.parse(`"${t}"`) as string
    if (/^\\u[dD][89a-fA-F]/.test(t)) return '\uFFFD'
    if (t.length === 6) return JSON.parse(`"${t}"`) as string
    return ESCAPES[t] ?? ''
  })
}

/** A key as Loki's sanitizeLabelKey names it (empty: no label). */
function sanitise(key: string): string {
  if (NAME.test(key)) return key
  const trimmed = key.replace(TRIM, '')
  return (/^[0-9]/.test(trimmed) ? `_${trimmed}` : trimmed).replace(/[^a-zA-Z0-9_]/gu, '_')
}

/** The pair a token (its garbage before it trimmed) holds, or undefined for none (an error). */
function pair(t: string): [string, string] | undefined {
  const eq = t.indexOf('=') + 1
  const qu = t.indexOf('"') + 1
  const ke = qu === 0 ? eq : eq === 0 ? qu : Math.min(eq, qu)
  const key = ke === 0 ? trimGarbage(t) : t.slice(0, ke - 1)
  if (key.includes('\uFFFD')) return undefined
  if (ke === 0) return [key, '']
  if (ke === qu || ke === 1) return undefined
  if (t[eq] === '"') {
    const inner = t.slice(eq + 1, t.length - 1)
    let slashes = 0
    while (slashes < inner.length && inner[inner.length - 1 - slashes] === '\\') slashes++
    const closed = t.length >= eq + 2 && t.endsWith('"') && slashes % 2 === 0
    if (!closed || (inner.includes('\\') && !ESCAPED.test(inner))) return undefined
    return [key, unquote(inner)]
  }
  const value = trimGarbage(t).slice(eq)
  return value.includes('"') || value.includes('=') ? undefined : [key, value]
}

/**
 * A line's text as the decoder reads it: UTF-8, each byte that is no part of a character (a
 * surrogate, an overlong form, a cut sequence, beyond U+10FFFF) read as U+FFFD on its own.
 */
export function logfmtText(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  let out = ''
  const cont = (i: number, lo = 0x80, hi = 0xbf) => i < bytes.length && bytes[i]! >= lo && bytes[i]! <= hi
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i]!
    let n = 0
    if (b < 0x80) n = 1
    else if (b >= 0xc2 && b <= 0xdf) n = cont(i + 1) ? 2 : 0
    else if (b >= 0xe0 && b <= 0xef) n = cont(i + 1, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf) && cont(i + 2) ? 3 : 0
    else if (b >= 0xf0 && b <= 0xf4) n = cont(i + 1, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf) && cont(i + 2) && cont(i + 3) ? 4 : 0
    if (n === 0) {
      out += '\uFFFD'
      i++
    } else {
      out += Buffer.from(bytes.subarray(i, i + n)).toString('utf8')
      i += n
    }
  }
  return out
}

/** What a statement sends beside a line for decodeLogfmt: '' when the line is UTF-8, else its bytes in base64. */
export const logfmtRawSql = (line: string) => `if(isValidUTF8(${line}), '', base64Encode(${line}))`

/** The labels of a line as sent: its text, or its bytes in base64 (logfmtRawSql). */
export const decodeSentLogfmt = (text: string, raw: string): Labels => decodeLogfmt(raw ? logfmtText(Buffer.from(raw, 'base64')) : text)

/**
 * The labels `| logfmt` (no flags) reads from a line: the pairs of its tokens, keys sanitised,
 * U+FFFD in values as a space, empty values left out, the first pair of a key winning.
 */
export function decodeLogfmt(text: string): Labels {
  const out: Labels = Object.create(null) as Labels
  for (const m of text.matchAll(TOKEN)) {
    let start = 0
    while (start < m[0].length && m[0].charCodeAt(start) <= 0x20) start++
    const kv = pair(m[0].slice(start))
    if (!kv) continue
    const key = sanitise(kv[0])
    const value = kv[1].replaceAll('\uFFFD', ' ')
    if (key !== '' && value !== '' && !(key in out)) out[key] = value
  }
  return out
}
