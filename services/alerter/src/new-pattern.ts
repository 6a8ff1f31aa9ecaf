// new_pattern rule state: the templates already seen per (tenant, service). Only ERROR and above
// can raise an alert, but every level teaches the tracker, so a template first logged at INFO and
// later at ERROR is not "new". Pure, in-memory; unbounded per key only by the template count.

export class NewPatternTracker {
  readonly #seen = new Map<string, Set<string>>()

  /** Records the template; returns true when it is new for this key and the record is ERROR or FATAL. */
  observe(key: string, patternId: string, level: string): boolean {
    let patterns = this.#seen.get(key)
    if (patterns === undefined) {
      patterns = new Set()
      this.#seen.set(key, patterns)
    }
    if (patterns.has(patternId)) return false
    patterns.add(patternId)
    return level === 'ERROR' || level === 'FATAL'
  }

  get size(): number {
    let n = 0
    for (const p of this.#seen.values()) n += p.size
    return n
  }

  snapshot(): Record<string, string[]> {
    const out: Record<string, string[]> = {}
    for (const [key, patterns] of this.#seen) out[key] = [...patterns]
    return out
  }

  restore(s: Record<string, string[]>): void {
    this.#seen.clear()
    for (const [key, patterns] of Object.entries(s)) this.#seen.set(key, new Set(patterns))
  }
}
