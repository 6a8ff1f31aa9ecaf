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
