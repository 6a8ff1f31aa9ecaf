// The text of each pattern id's template, as /patterns shows it. The text lives in the `patterns`
// table (the latest template of the group), and a read of it, however small, costs a ClickHouse
// query of its own (~7 ms on the benchmark's 10 M rows, a fifth of the whole answer). Logs
// Drilldown asks /patterns for the same service again and again, and a group's text changes
// only when it gains a parameter, so texts are kept for a while: each id's text is read again
// once it is older than `ttlMs`, and only the ids not held (or held too long) are read.

export interface TemplateTextOptions {
  /** How long a text read from ClickHouse is used before it is read again. */
  ttlMs: number
  /** Texts held at most (the longest held go first). */
  maxEntries: number
  now?: () => number
}

/** Reads the texts of these ids of the tenant: rows for the ids that have one. */
export type ReadTexts = (ids: readonly string[]) => Promise<ReadonlyArray<{ id: string; template: string }>>

export class TemplateTexts {
  readonly #texts = new Map<string, { text: string; readAt: number }>()
  readonly #o: Required<TemplateTextOptions>

  constructor(opts: TemplateTextOptions) {
    this.#o = { now: Date.now, ...opts }
  }

  get size(): number {
    return this.#texts.size
  }

  /** The text of each id that has one; ids without a template are left out. */
  async get(tenant: string, ids: readonly string[], read: ReadTexts): Promise<Map<string, string>> {
    const now = this.#o.now()
    const out = new Map<string, string>()
    const missing: string[] = []
    for (const id of ids) {
      const held = this.#texts.get(key(tenant, id))
      if (held && now - held.readAt < this.#o.ttlMs) out.set(id, held.text)
      else missing.push(id)
    }
    if (missing.length === 0) return out
    for (const { id, template } of await read(missing)) {
      out.set(id, template)
      const k = key(tenant, id)
      // Deleted first, so the map's order stays the order of reading and the oldest go first.
      this.#texts.delete(k)
      this.#texts.set(k, { text: template, readAt: now })
    }
    for (const k of this.#texts.keys()) {
      if (this.#texts.size <= this.#o.maxEntries) break
      this.#texts.delete(k)
    }
    return out
  }
}

const key = (tenant: string, id: string) => `${tenant}\u0000${id}`
