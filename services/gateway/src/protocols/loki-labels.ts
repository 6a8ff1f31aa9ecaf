// Loki stream labels. The protobuf push carries them as one string in the Prometheus label-set
// text format, which Loki reads with its LogQL selector grammar:
//
//   labels  = ws "{" ws [ pair ws { "," ws pair ws } [ "," ws ] ] "}" ws
//   pair    = name ws "=" ws value
//   name    = [a-zA-Z_][a-zA-Z0-9_]*
//   value   = '"' { char | escape } '"'          (Go string escapes, no raw newline)
//           | '`' { any character but '`' } '`'   (raw, as LogQL allows)
//   escape  = \\ \" \' \a \b \f \n \r \t \v \xHH \uHHHH \UHHHHHHHH \ooo
//
// e.g. {app="checkout", path="C:\\logs\\app.log", msg="say \"hi\""}. A trailing comma is tolerated
// (the Prometheus exposition format allows it); only `=` pairs are labels (`!=`, `=~` are query
// matchers). The JSON push carries the same labels as an object of strings, checked by the same
// rules (`labelsFromObject`). A label with an empty value is no label (Prometheus semantics).
export type Labels = Map<string, string>

export const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

/** What error messages show of a client's label text at most. */
const MAX_SHOWN_CHARS = 200

export class LabelSetError extends Error {}

/** `text` cut to a length fit for an error message. */
export function shown(text: string): string {
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text
}

function invalid(text: string, reason: string): LabelSetError {
  // Loki's wording (validation.InvalidLabelsErrorMsg), so clients' logs read the same.
  return new LabelSetError(`error parsing labels '${shown(text)}' with error: ${reason}`)
}

const SIMPLE_ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' }
const HEX_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 }

const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13
const isNameStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57)

/** Parses a label-set string; throws LabelSetError (Loki's message) naming what is wrong and where. */
export function parseLabelSet(text: string): Labels {
  const labels: Labels = new Map()
  let i = 0
  const skipSpace = () => {
    while (i < text.length && isSpace(text.charCodeAt(i))) i++
  }
  const fail = (what: string) => invalid(text, `${what} at position ${i}`)

  const readValue = (): string => {
    const quote = text[i]
    if (quote === '`') {
      const end = text.indexOf('`', i + 1)
      if (end === -1) throw fail('unterminated raw string')
      const v = text.slice(i + 1, end)
      i = end + 1
      return v
    }
    if (quote !== '"') throw fail('expected a quoted label value')
    i++
    let out = ''
    let from = i
    for (;;) {
      if (i >= text.length) throw fail('unterminated label value')
      const c = text[i]!
      if (c === '"') break
      if (c === '\n') throw fail('newline in label value')
      if (c !== '\\') {
        i++
        continue
      }
      out += text.slice(from, i)
      const e = text[i + 1] ?? ''
      const simple = SIMPLE_ESCAPES[e]
      if (simple !== undefined) {
        out += simple
        i += 2
      } else if (HEX_DIGITS[e] !== undefined) {
        const n = HEX_DIGITS[e]
        const hex = text.slice(i + 2, i + 2 + n)
        const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === n ? parseInt(hex, 16) : NaN
        if (Number.isNaN(code) || code > 0x10ffff || (e !== 'x' && code >= 0xd800 && code <= 0xdfff)) throw fail(`invalid escape \\${e}${hex}`)
        out += e === 'x' ? String.fromCharCode(code) : String.fromCodePoint(code)
        i += 2 + n
      } else if (/^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
        const code = parseInt(text.slice(i + 1, i + 4), 8)
        if (code > 255) throw fail(`invalid escape \\${text.slice(i + 1, i + 4)}`)
        out += String.fromCharCode(code)
        i += 4
      } else {
        throw fail(`unknown escape \\${e}`)
      }
      from = i
    }
    out += text.slice(from, i)
    i++
    return out
  }

  skipSpace()
  if (text[i] !== '{') throw fail('expected {')
  i++
  skipSpace()
  while (text[i] !== '}') {
    const start = i
    if (!isNameStart(text.charCodeAt(i))) throw fail(i >= text.length ? 'unexpected end, expected a label name or }' : 'expected a label name')
    while (i < text.length && isNameChar(text.charCodeAt(i))) i++
    const name = text.slice(start, i)
    skipSpace()
    if (text[i] !== '=' || text[i + 1] === '~') throw fail(`expected = after label name "${name}" (only equality pairs are labels)`)
    i++
    skipSpace()
    const value = readValue()
    if (labels.has(name)) throw invalid(text, `duplicate label name "${name}"`)
    labels.set(name, value)
    skipSpace()
    if (text[i] === ',') {
      i++
      skipSpace()
    } else if (text[i] !== '}') {
      throw fail(i >= text.length ? 'unexpected end, expected , or }' : 'expected , or }')
    }
  }
  i++
  skipSpace()
  if (i < text.length) throw fail('unexpected text after }')
  for (const [name, value] of labels) if (value === '') labels.delete(name)
  return labels
}

/** The JSON push's `stream` object as labels; throws LabelSetError for a bad name or a non-string value. */
export function labelsFromObject(stream: Record<string, unknown>): Labels {
  const labels: Labels = new Map()
  for (const name of Object.keys(stream)) {
    const value = stream[name]
    if (typeof value !== 'string') throw invalid(formatLabels(stream), `label "${shown(name)}": expected a string value`)
    if (!LABEL_NAME.test(name)) throw invalid(formatLabels(stream), `invalid label name "${shown(name)}"`)
    if (value !== '') labels.set(name, value)
  }
  return labels
}

/** Labels in the label-set text format, for error messages (cut to a readable length). */
export function formatLabels(labels: Labels | Record<string, unknown>): string {
  const pairs = labels instanceof Map ? [...labels] : Object.entries(labels)
  let out = '{'
  for (const [name, value] of pairs) {
    if (out.length > MAX_SHOWN_CHARS) break
    // Non-strings are only named: a client's nested value is not worth serialising into a message.
    const v = typeof value === 'string' ? shown(value) : value === null ? 'null' : typeof value === 'object' ? `[${Array.isArray(value) ? 'array' : 'object'}]` : String(value)
    out += `${out.length > 1 ? ', ' : ''}${shown(name)}=${JSON.stringify(v)}`
  }
  return shown(`${out}}`)
}
