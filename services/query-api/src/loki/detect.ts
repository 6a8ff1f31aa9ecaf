// Detected fields for Logs Drilldown: what a sample of recent lines carries beyond the stream
// labels — structured metadata, and the fields a json or logfmt parser would extract — with each
// field's type (the narrowest of boolean, int, float, duration, bytes, string that all its values
// fit) and cardinality (distinct values in the sample).
import { decodeLogfmt } from './logfmt-decode.js'
import { GO_DURATION_RE } from './sql.js'

export interface DetectedField {
  label: string
  type: 'boolean' | 'int' | 'float' | 'duration' | 'bytes' | 'string'
  cardinality: number
  parsers: ('json' | 'logfmt')[] | null
  jsonPath?: string[]
  values: Set<string>
}

interface SampleRow {
  line: string
  meta: Record<string, string>
}

const BYTES = /^\d+(\.\d+)?\s*([KMGTP]i?B|B)$/i

function typeOf(v: string): DetectedField['type'] {
  if (v === 'true' || v === 'false') return 'boolean'
  if (/^[-+]?\d+$/.test(v)) return 'int'
  if (/^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$/.test(v)) return 'float'
  if (GO_DURATION_RE.test(v)) return 'duration'
  if (BYTES.test(v)) return 'bytes'
  return 'string'
}

/** The narrower type both values fit (int widens to float; anything else mixed is a string). */
function widen(a: DetectedField['type'], b: DetectedField['type']): DetectedField['type'] {
  if (a === b) return a
  if ((a === 'int' && b === 'float') || (a === 'float' && b === 'int')) return 'float'
  return 'string'
}

const sanitise = (k: string) => k.replace(/[^a-zA-Z0-9_]/g, '_')

function flatten(obj: Record<string, unknown>, prefix: string[], out: [string[], string][]): void {
  for (const [k, v] of Object.entries(obj)) {
    const path = [...prefix, k]
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v as Record<string, unknown>, path, out)
    else if (v !== null) out.push([path, typeof v === 'string' ? v : JSON.stringify(v)])
  }
}

export function detectFields(rows: readonly SampleRow[]): DetectedField[] {
  const fields = new Map<string, DetectedField>()
  const add = (label: string, value: string, parser: 'json' | 'logfmt' | null, jsonPath?: string[]) => {
    let f = fields.get(label)
    if (!f) {
      f = { label, type: typeOf(value), cardinality: 0, parsers: parser ? [parser] : null, values: new Set(), ...(jsonPath && { jsonPath }) }
      fields.set(label, f)
    } else {
      f.type = widen(f.type, typeOf(value))
      if (parser && !f.parsers?.includes(parser)) f.parsers = [...(f.parsers ?? []), parser]
    }
    f.values.add(value)
  }
  for (const r of rows) {
    for (const [k, v] of Object.entries(r.meta)) add(k, v, null)
    const line = r.line.trim()
    if (line.startsWith('{')) {
      let obj: unknown
      try {
        obj = JSON.parse(line)
      } catch {
        obj = undefined
      }
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const pairs: [string[], string][] = []
        flatten(obj as Record<string, unknown>, [], pairs)
        for (const [path, v] of pairs) add(sanitise(path.join('_')), v, 'json', path)
        continue
      }
    }
    // As `| logfmt` reads the line, so that a field found here is one that query filters on.
    const pairs = decodeLogfmt(r.line)
    for (const k in pairs) add(k, pairs[k]!, 'logfmt')
  }
  for (const f of fields.values()) f.cardinality = f.values.size
  return [...fields.values()].sort((a, b) => a.label.localeCompare(b.label))
}
