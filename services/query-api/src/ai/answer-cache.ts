// Answers kept for a while: bounded in entries (least recently used evicted) and in age. The
// model's answers (llm.ts, kept as the raw JSON text it wrote: each hit parses and validates a
// fresh copy, so one caller cannot change the answer another gets) and the insights of a window.
export class TtlCache<V> {
  readonly #entries = new Map<string, { content: V; expiresAt: number }>()
  readonly #size: number
  readonly #ttlMs: number

  constructor(size: number, ttlMs: number) {
    this.#size = size
    this.#ttlMs = ttlMs
  }

  get(key: string, now: number): V | undefined {
    const e = this.#entries.get(key)
    if (e === undefined) return undefined
    this.#entries.delete(key)
    if (e.expiresAt <= now) return undefined
    this.#entries.set(key, e) // most recently used last
    return e.content
  }

  set(key: string, content: V, now: number): void {
    if (this.#size <= 0 || this.#ttlMs <= 0) return
    this.#entries.delete(key)
    this.#entries.set(key, { content, expiresAt: now + this.#ttlMs })
    while (this.#entries.size > this.#size) this.#entries.delete(this.#entries.keys().next().value!)
  }
}
