// LogQL's regular expressions are Go's (RE2 syntax: `(?i)`, `(?P<name>…)`, `[[:alpha:]]`, `\pL`),
// which JavaScript's RegExp reads differently or not at all. re2js, a port of RE2, reads them as
// Loki does: the parser checks every regex with it (a 400 in Go's words for one Go refuses, even
// where no row would have reached ClickHouse's RE2), and the stages that match in JavaScript
// (drop/keep matchers, label_replace) match with it.
import { RE2JS } from 're2js'

const compiled = new Map<string, RE2JS>()

/** `pattern` compiled as Go compiles it; throws RE2JS's error (Go's message) for one Go refuses. */
export function re2(pattern: string): RE2JS {
  let re = compiled.get(pattern)
  if (!re) {
    re = RE2JS.compile(pattern)
    // Queries repeat (dashboards refresh); the bound keeps odd ones from piling up.
    if (compiled.size >= 1000) compiled.clear()
    compiled.set(pattern, re)
  }
  return re
}

/** Go's error for `pattern` (`error parsing regexp: missing closing ): \`(\``), or undefined when it compiles. */
export function re2Error(pattern: string): string | undefined {
  try {
    re2(pattern)
    return undefined
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

/** A piece of a Go Regexp.Expand template: text as it is, or a reference to a group by number or name. */
export type ExpandPart = { text: string } | { group: number } | { name: string }

/**
 * Go's Regexp.Expand template (`$1`, `${1}`, `$name`, `${name}`, `$$`) as Go's extract reads it: a
 * name is Unicode letters, digits and `_`; braces must close (else the `$` is text); a number has
 * no leading zero and fewer than nine digits (else it is a name).
 */
export function expandParts(template: string): ExpandPart[] {
  const parts: ExpandPart[] = []
  let text = ''
  let rest = template
  while (rest.length) {
    const at = rest.indexOf('$')
    if (at < 0) break
    text += rest.slice(0, at)
    rest = rest.slice(at + 1)
    if (rest.startsWith('$')) {
      text += '$'
      rest = rest.slice(1)
      continue
    }
    const m = /^(\{)?([\p{L}\p{Nd}_]+)(\})?/u.exec(rest)
    if (!m || (m[1] && !m[3])) {
      text += '$'
      continue
    }
    const name = m[2]!
    rest = rest.slice(m[1] ? m[0].length : name.length)
    if (text) parts.push({ text })
    text = ''
    parts.push(/^(0|[1-9][0-9]{0,7})$/.test(name) ? { group: Number(name) } : { name })
  }
  text += rest
  if (text) parts.push({ text })
  return parts
}
