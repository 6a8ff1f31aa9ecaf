// Docker cuts a container's line longer than its 16 KiB buffer into parts, and its log drivers
// send each part as an entry of its own, marked (moby's daemon/logger):
//   fluentd   the text in `log`; partial_message "true", partial_id (the line's), partial_ordinal
//             ("1", "2", …), partial_last ("true" on the last part)
//   journald  the text in MESSAGE; CONTAINER_PARTIAL_ID, CONTAINER_PARTIAL_ORDINAL,
//             CONTAINER_PARTIAL_LAST, and CONTAINER_PARTIAL_MESSAGE "true" on all but the last
//             part (what Fluent Bit's systemd input forwards)
// The parts of a line are joined here into the one record the container wrote, as
// fluent-plugin-concat (use_partial_metadata) and Vector's docker_logs source (auto_partial_merge)
// join them: the first part's record and time, the text the parts' texts in order, the marks gone.
//
// A line waits in memory for its last part, for at most `waitMs` (Docker sends the parts back to
// back); a line whose last part does not come in time, that grows past `maxLineChars`, or that
// is the oldest when a connection holds more than `maxLines` lines or `maxHeldChars` characters,
// is delivered with what came, its message mark and id kept and its last mark "false", so the cut
// is visible; parts that come after it make a line of their own.
import type { ForwardEvent } from './forward-messages.js'

export interface PartialOptions {
  /** How long a line waits for its last part. */
  waitMs: number
  /** A line's text is delivered once it is this long, the parts after it a line of their own. */
  maxLineChars: number
  /** Characters of parts a connection holds at most: past it, its oldest line is delivered. */
  maxHeldChars: number
  /** Lines a connection holds at most: past it, its oldest line is delivered. */
  maxLines: number
}

/** Events of one tag, to deliver in this order. */
export interface Tagged {
  tag: string
  events: ForwardEvent[]
}

/** How a driver marks a part: the field of its text and the fields of its marks. */
interface Marks {
  text: string
  message: string
  id: string
  ordinal: string
  last: string
}
const MARKS: readonly Marks[] = [
  { text: 'log', message: 'partial_message', id: 'partial_id', ordinal: 'partial_ordinal', last: 'partial_last' },
  { text: 'MESSAGE', message: 'CONTAINER_PARTIAL_MESSAGE', id: 'CONTAINER_PARTIAL_ID', ordinal: 'CONTAINER_PARTIAL_ORDINAL', last: 'CONTAINER_PARTIAL_LAST' },
]

interface Part {
  marks: Marks
  id: string
  ordinal: number
  last: boolean
  text: string
}

interface Line {
  tag: string
  first: ForwardEvent
  parts: Part[]
  chars: number
  since: number
}

const isTrue = (v: unknown) => v === 'true' || v === true

/** The part a record is, when it is one of a line Docker cut: a text, an id, and marked partial or last. */
function partOf(record: Record<string, unknown>): Part | undefined {
  for (const marks of MARKS) {
    const id = record[marks.id]
    if (typeof id !== 'string' || id === '') continue
    const text = record[marks.text]
    const last = isTrue(record[marks.last])
    if (typeof text !== 'string' || !(last || isTrue(record[marks.message]))) return undefined
    const ordinal = Number(record[marks.ordinal])
    return { marks, id, ordinal: Number.isFinite(ordinal) ? ordinal : Number.NaN, last, text }
  }
  return undefined
}

/** The line's record: the first part's fields, the parts' texts joined; marked when it is not whole. */
function joined(line: Line, whole: boolean): ForwardEvent {
  // Parts come in order over a connection; the ordinals put them right if they did not.
  const parts = line.parts.every((p) => !Number.isNaN(p.ordinal)) ? [...line.parts].sort((a, b) => a.ordinal - b.ordinal) : line.parts
  const marks = line.parts[0]!.marks
  const record: Record<string, unknown> = { ...line.first.record, [marks.text]: parts.map((p) => p.text).join('') }
  delete record[marks.ordinal]
  if (whole) {
    delete record[marks.message]
    delete record[marks.id]
    delete record[marks.last]
  } else {
    record[marks.message] = 'true'
    record[marks.last] = 'false'
  }
  return { timeNs: line.first.timeNs, record }
}

/** One connection's lines in parts, joined as their parts come (see the top of the file). */
export class PartialLines {
  /** Lines by tag and partial id, the oldest first (a Map keeps insertion order). */
  readonly #lines = new Map<string, Line>()
  #chars = 0

  constructor(
    readonly opts: PartialOptions,
    /** Told of each line delivered: whole (its last part came) or cut. */
    readonly delivered: (whole: boolean) => void = () => {},
    readonly now: () => number = Date.now,
  ) {}

  /** Lines waiting for parts. */
  get size(): number {
    return this.#lines.size
  }

  /**
   * The events of a message of `tag` as they are to be delivered now, after any lines the limits
   * push out: events that are no part as they are, a line whose last part this is as the line.
   */
  take(tag: string, events: ForwardEvent[]): Tagged[] {
    // Most messages hold no part: their events go on as they are.
    if (!events.some((e) => partOf(e.record) !== undefined)) return [{ tag, events }]
    const out: Tagged[] = []
    const now: ForwardEvent[] = []
    for (const e of events) {
      const part = partOf(e.record)
      if (!part) {
        now.push(e)
        continue
      }
      const key = `${tag}\u0000${part.id}`
      let line = this.#lines.get(key)
      if (!line) {
        line = { tag, first: e, parts: [], chars: 0, since: this.now() }
        this.#lines.set(key, line)
      }
      line.parts.push(part)
      line.chars += part.text.length
      this.#chars += part.text.length
      if (part.last) {
        this.#remove(key, line)
        now.push(this.#joined(line, true))
      } else if (line.chars >= this.opts.maxLineChars) {
        this.#remove(key, line)
        now.push(this.#joined(line, false))
      }
      // The oldest lines give way while the connection holds too much (this one last).
      for (const [k, l] of this.#lines) {
        if (this.#lines.size <= this.opts.maxLines && this.#chars <= this.opts.maxHeldChars) break
        this.#remove(k, l)
        if (l === line) now.push(this.#joined(l, false))
        else out.push({ tag: l.tag, events: [this.#joined(l, false)] })
      }
    }
    out.push({ tag, events: now })
    return out
  }

  /** Lines that waited `waitMs` or longer (every line: `all`), each with the parts that came. */
  expired(all = false): Tagged[] {
    const out: Tagged[] = []
    const before = this.now() - this.opts.waitMs
    for (const [k, l] of this.#lines) {
      // Oldest first: the first that has not waited long enough ends the search.
      if (!all && l.since > before) break
      this.#remove(k, l)
      out.push({ tag: l.tag, events: [this.#joined(l, false)] })
    }
    return out
  }

  /** When the oldest line's wait ends (ms from now), if any line waits. */
  nextExpiry(): number | undefined {
    for (const l of this.#lines.values()) return Math.max(0, l.since + this.opts.waitMs - this.now())
    return undefined
  }

  #joined(line: Line, whole: boolean): ForwardEvent {
    this.delivered(whole)
    return joined(line, whole)
  }

  #remove(key: string, line: Line): void {
    this.#lines.delete(key)
    this.#chars -= line.chars
  }
}
