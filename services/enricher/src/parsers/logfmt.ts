// logfmt / key=value bodies (Heroku's logfmt, Go's logfmt and slog text handler, logrus text,
// Grafana and Prometheus components): `key=value key2="quoted value" flag`. Quoted values
// unescape \" \\ \n \t. A line counts as logfmt only when pairs dominate it — at least two, and
// at least half of its tokens — so a sentence that mentions one `id=5` is not mistaken for it.

const SPACE = 32
const EQUALS = 61
const QUOTE = 34
const BACKSLASH = 92

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' }

/**
 * Whether `line` has too few '=' for pairs to be half its tokens, from two native searches
 * rather than the parse: most lines that get here are prose with a `key=value` or two. Without
 * a quote, the parse's tokens are exactly the runs of non-blanks, of which the runs after a space
 * are a lower bound, and a pair holds at least one '='.
 */
function tooFewPairs(line: string): boolean {
  if (line.includes('"')) return false
  let equals = 0
  for (let p = line.indexOf('='); p !== -1; p = line.indexOf('=', p + 1)) equals++
  if (equals < 2) return true
  let tokens = line.charCodeAt(0) > SPACE ? 1 : 0
  for (let p = line.indexOf(' '); p !== -1 && tokens <= 2 * equals; p = line.indexOf(' ', p + 1)) {
    if (line.charCodeAt(p + 1) > SPACE) tokens++
  }
  return tokens > 2 * equals
}

/** Pairs of a logfmt line, or undefined when the line is not logfmt. */
export function parseLogfmt(line: string): Record<string, string> | undefined {
  if (!line.includes('=') || tooFewPairs(line)) return undefined
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
