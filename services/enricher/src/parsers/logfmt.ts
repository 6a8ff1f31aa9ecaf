// logfmt / key=value bodies (Heroku's logfmt, Go's logfmt and slog text handler, logrus text,
// Grafana and Prometheus components): `key=value key2="quoted value" flag`. Quoted values
// unescape \" \\ \n \t. A line counts as logfmt only when pairs dominate it — at least two, and
// at least half of its tokens — so a sentence that mentions one `id=5` is not mistaken for it.

const SPACE = 32
const EQUALS = 61
const QUOTE = 34
const BACKSLASH = 92

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }

/** Pairs of a logfmt line, or undefined when the line is not logfmt. */
export function parseLogfmt(line: string): Record<string, string> | undefined {
  if (!line.includes('=')) return undefined
  const fields: Record<string, string> = {}
  let pairs = 0
  let tokens = 0
  let i = 0
  const n = line.length
  while (i < n) {
    while (i < n && line.charCodeAt(i) <= SPACE) i++
    if (i >= n) break
    tokens++
    const keyStart = i
    while (i < n && line.charCodeAt(i) > SPACE && line.charCodeAt(i) !== EQUALS && line.charCodeAt(i) !== QUOTE) i++
    const key = line.slice(keyStart, i)
    if (line.charCodeAt(i) !== EQUALS || key === '') {
      // A bare word (or garbage such as a stray quote): skip to the next space.
      while (i < n && line.charCodeAt(i) > SPACE) i++
      continue
    }
    i++ // past '='
    let value: string
    if (line.charCodeAt(i) === QUOTE) {
      const read = readQuoted(line, i + 1)
      value = read.value
      i = read.end
    } else {
      const start = i
      while (i < n && line.charCodeAt(i) > SPACE) i++
      value = line.slice(start, i)
    }
    fields[key] = value
    pairs++
  }
  return pairs >= 2 && pairs * 2 >= tokens ? fields : undefined
}

// An unterminated quote (a line cut by truncation) takes the rest of the line.
function readQuoted(line: string, from: number): { value: string; end: number } {
  let value = ''
  let runStart = from
  for (let i = from; i < line.length; i++) {
    const c = line.charCodeAt(i)
    if (c === QUOTE) return { value: value + line.slice(runStart, i), end: i + 1 }
    if (c === BACKSLASH) {
      const next = line[i + 1] ?? ''
      value += line.slice(runStart, i) + (ESCAPES[next] ?? next)
      i++
      runStart = i + 1
    }
  }
  return { value: value + line.slice(runStart), end: line.length }
}
