// `sluice templates`: mines log lines offline with exactly the enricher's code and configuration
// (the ENRICHER_* variables), so a file shows the pattern ids and templates the pipeline would
// store. Source → transform → sink: lines from files or stdin (streamed, never held), each made a
// LogEvent and enriched, then either one JSON line per log or a table of the template groups (only
// per-group counts are kept, so any input size fits).
import { once } from 'node:events'
import { open } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import type { Env } from '@sluice/config'
import { formatNs, nowNs, parseLevel, uuidv7 } from '@sluice/core'
import type { EnrichedLog, LogEvent, Severity } from '@sluice/core'
import { createEnricher, enricherConfigOf, loadConfig, resolveAliases } from '@sluice/enricher'

/** Where an NDJSON line's message is looked for, in order, unless --message-field names one. */
export const MESSAGE_FIELDS = ['message', 'msg', 'log', '@message', 'text', 'body'] as const

export interface TemplatesOptions {
  /** Files read in order; `-` (or no file at all) reads `stdin`. */
  files: readonly string[]
  stdin: Readable
  out: Writable
  /** A table of the template groups after all input instead of one JSON line per log. */
  summary?: boolean
  /** The NDJSON field holding the message (default: the first of MESSAGE_FIELDS present). */
  messageField?: string
  /** Service of every line; else an NDJSON line's `service`, else `unknown`. */
  service?: string
  /** Enricher configuration source. Default: process.env. */
  env?: Env
}

/** One non-blank input line: its file (as named on the command line) and 1-based line number. */
interface Line {
  file: string
  number: number
  text: string
}

interface Sink {
  write(line: Line, enriched: EnrichedLog): Promise<void> | undefined
  end(): Promise<void>
}

const INFO: Severity = { text: 'INFO', number: 9 }
const OUT_CHUNK_CHARS = 64 * 1024

export async function runTemplates(opts: TemplatesOptions): Promise<void> {
  // Before any input is read: a bad ENRICHER_* value fails with every issue named.
  const enricher = createEnricher(enricherConfigOf(loadConfig(opts.env ?? process.env)))
  const toEvent = eventMaker(opts)
  const files = opts.files.length > 0 ? opts.files : ['-']
  const sink = opts.summary ? summarySink(opts.out) : ndjsonSink(opts.out, files.length > 1)
  for await (const line of readLines(files, opts.stdin)) {
    const pending = sink.write(line, enricher.enrich(toEvent(line.text)))
    if (pending) await pending
  }
  await sink.end()
}

async function* readLines(files: readonly string[], stdin: Readable): AsyncGenerator<Line> {
  for (const file of files) {
    // A second `-`: stdin has ended, and readline would wait for an 'end' that never comes again.
    if (file === '-' && stdin.readableEnded) continue
    let input: Readable
    try {
      input = file === '-' ? stdin : (await open(file)).createReadStream()
    } catch (err) {
      throw readError(file, err)
    }
    const rl = createInterface({ input, crlfDelay: Infinity })
    let number = 0
    try {
      for await (const text of rl) {
        number++
        if (text.trim() !== '') yield { file, number, text }
      }
    } catch (err) {
      throw readError(file, err)
    } finally {
      rl.close()
      if (input !== stdin) input.destroy()
    }
  }
}

function readError(file: string, err: unknown): Error {
  // "ENOENT: no such file or directory, open 'x.log'" — the file is named once, in front.
  const reason = err instanceof Error ? err.message.replace(/, \w+ '.*'$/, '') : String(err)
  return new Error(`cannot read ${file}: ${reason}`, { cause: err })
}

/** Raw text is the message; an NDJSON object gives its message field, `service` and `level`. */
function eventMaker(opts: TemplatesOptions): (text: string) => LogEvent {
  const fields: readonly string[] = opts.messageField === undefined ? MESSAGE_FIELDS : [opts.messageField]
  return (text) => {
    let message = text
    let service = opts.service
    let severity = INFO
    const object = text.trimStart().startsWith('{') ? parseObject(text) : undefined
    if (object) {
      const field = fields.find((f) => object[f] !== undefined && object[f] !== null)
      if (field !== undefined) message = stringOf(object[field])
      if (service === undefined && typeof object.service === 'string' && object.service !== '') service = object.service
      const level = object.level
      // parseLevel: names as parseSeverity reads them, and pino/bunyan numbers (30 info, 50 error).
      if (typeof level === 'string' || typeof level === 'number') severity = parseLevel(level) ?? INFO
    }
    const now = nowNs()
    return {
      id: uuidv7(),
      tenant: 'cli',
      timestamp: now,
      observed_timestamp: now,
      service: service ?? 'unknown',
      host: null,
      severity_text: severity.text,
      severity_number: severity.number,
      message,
      trace_id: null,
      span_id: null,
      attributes: {},
      resource: {},
      source: 'http',
    }
  }
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

const stringOf = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value))

/**
 * One JSON object per log, keys in this order (`file` only when several inputs were given,
 * `timestamp` only when the message carried its own time, `merged` only on the record that merged
 * groups: their ids, which now name `pattern_id`):
 *   {"file","line","pattern_id","template","level","timestamp","service","parsed_format","fields","message","merged"}
 */
function ndjsonSink(out: Writable, withFile: boolean): Sink {
  let buffered = ''
  return {
    write(line, e) {
      const record: Record<string, unknown> = withFile ? { file: line.file, line: line.number } : { line: line.number }
      record.pattern_id = e.pattern_id
      record.template = e.template
      record.level = e.level
      if (e.timestamp !== e.observed_timestamp) record.timestamp = formatNs(e.timestamp)
      record.service = e.service
      record.parsed_format = e.parsed_format
      record.fields = e.attributes
      record.message = e.message
      if (e.pattern_aliases.length > 0) record.merged = e.pattern_aliases
      buffered += `${JSON.stringify(record)}\n`
      // Written in chunks: one write per line is one syscall per line on a pipe or a file.
      if (buffered.length < OUT_CHUNK_CHARS) return undefined
      const chunk = buffered
      buffered = ''
      return write(out, chunk)
    },
    async end() {
      if (buffered !== '') await write(out, buffered)
      buffered = ''
    },
  }
}

interface Group {
  count: number
  /** Input order of the group's first and latest line: ties sort by the first, the latest names the template. */
  first: number
  last: number
  template: string
}

/** Counts per pattern id as stored; at the end, ids merged later are folded into their final group. */
function summarySink(out: Writable): Sink {
  const groups = new Map<string, Group>()
  const aliases = new Map<string, string>()
  let lines = 0
  return {
    write(_line, e) {
      const seq = lines++
      for (const alias of e.pattern_aliases) aliases.set(alias, e.pattern_id)
      const g = groups.get(e.pattern_id)
      if (g) {
        g.count++
        g.last = seq
        g.template = e.template
      } else {
        groups.set(e.pattern_id, { count: 1, first: seq, last: seq, template: e.template })
      }
      return undefined
    },
    async end() {
      const final = new Map<string, Group>()
      for (const [id, g] of groups) {
        const to = resolveAliases(aliases, id)
        const f = final.get(to)
        if (!f) {
          final.set(to, { ...g })
          continue
        }
        f.count += g.count
        f.first = Math.min(f.first, g.first)
        if (g.last > f.last) {
          f.last = g.last
          f.template = g.template
        }
      }
      const rows = [...final].sort(([, a], [, b]) => b.count - a.count || a.first - b.first)
      const width = Math.max('count'.length, String(rows[0]?.[1].count ?? 0).length)
      let text = `${'count'.padStart(width)}  ${'pattern_id'.padEnd(16)}  template\n`
      for (const [id, g] of rows) text += `${String(g.count).padStart(width)}  ${id.padEnd(16)}  ${g.template}\n`
      text += `${lines} lines, ${rows.length} templates\n`
      await write(out, text)
    },
  }
}

/** Resolves at once unless the stream asks to wait; then on 'drain' (rejects on 'error'). */
function write(out: Writable, chunk: string): Promise<void> | undefined {
  if (out.write(chunk)) return undefined
  return once(out, 'drain').then(() => undefined)
}
