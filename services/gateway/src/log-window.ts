// What a listener without a reply channel (syslog, the forward protocol's drops) tells the
// operator: a refused message is only known from the gateway's log, and a flood of bad messages
// must not become a flood of log lines. The first occurrence of each topic is logged at once with
// its detail; later ones of the same topic are counted and summed up in one line per topic per
// interval.

/** Writes one line: the first of a topic (`summary` false), or the sum of those since. */
export type WindowLine<Topic> = (topic: Topic, count: number, detail: string, summary: boolean) => void

export class LogWindow<Topic> {
  /** This interval's topics already logged once: how many more since, and the latest detail. */
  readonly #window = new Map<Topic, { count: number; detail: string }>()
  readonly #timer: NodeJS.Timeout
  readonly #line: WindowLine<Topic>

  constructor(intervalMs: number, line: WindowLine<Topic>) {
    this.#line = line
    this.#timer = setInterval(() => this.flush(), intervalMs).unref()
  }

  note(topic: Topic, n: number, detail: string): void {
    const seen = this.#window.get(topic)
    if (seen) {
      seen.count += n
      seen.detail = detail
      return
    }
    this.#window.set(topic, { count: 0, detail })
    this.#line(topic, n, detail, false)
  }

  /** Logs one line per topic seen again since it was first logged; the next occurrence logs at once. */
  flush(): void {
    for (const [topic, { count, detail }] of this.#window) if (count > 0) this.#line(topic, count, detail, true)
    this.#window.clear()
  }

  close(): void {
    clearInterval(this.#timer)
    this.flush()
  }
}
