// How a result in each output format reaches the client. chdb's streaming cursor formats every
// chunk it returns as a document of its own: row formats without a prefix concatenate into the
// whole result, formats with a header repeat it at the head of every chunk, and formats with a
// prefix and a suffix (JSON, XML, Parquet, Pretty, …) or separators between rows (Values) do not
// concatenate at all. So:
//   concat  chunks are sent as they come;
//   header  the header of the first chunk is sent once, and cut from every later chunk (which must
//           start with the same bytes: anything else fails the query rather than corrupting it);
//   buffer  the statement runs to completion in memory (bounded by the row limit) and is sent whole.

export type OutputMode = 'concat' | 'header' | 'buffer'

const CONCAT = [
  'Native', 'RowBinary', 'TabSeparated', 'TSV', 'TabSeparatedRaw', 'TSVRaw', 'Raw', 'CSV', 'JSONEachRow', 'JSONLines', 'JSONL', 'NDJSON',
  'JSONStringsEachRow', 'JSONCompactEachRow', 'JSONCompactStringsEachRow', 'LineAsString', 'TSKV', 'RawBLOB', 'MsgPack', 'BSONEachRow',
  'CustomSeparated',
]
/** Formats whose chunks start with a header, and the header's shape. */
const HEADER: Record<string, { kind: 'binary' | 'lines' | 'csv'; records: 1 | 2 }> = {
  RowBinaryWithNames: { kind: 'binary', records: 1 },
  RowBinaryWithNamesAndTypes: { kind: 'binary', records: 2 },
  CSVWithNames: { kind: 'csv', records: 1 },
  CSVWithNamesAndTypes: { kind: 'csv', records: 2 },
}
for (const base of ['TabSeparated', 'TSV', 'TabSeparatedRaw', 'TSVRaw', 'Raw', 'JSONCompactEachRow', 'JSONCompactStringsEachRow']) {
  HEADER[`${base}WithNames`] = { kind: 'lines', records: 1 }
  HEADER[`${base}WithNamesAndTypes`] = { kind: 'lines', records: 2 }
}
const JSON_ROWS = new Set(['JSONEachRow', 'JSONLines', 'JSONL', 'NDJSON', 'JSONStringsEachRow'])

/** How `format` (canonical name) is sent, given the settings the statement runs with. */
export function outputMode(format: string, settings: ReadonlyMap<string, string>): OutputMode {
  // With this setting JSONEachRow becomes one JSON array: `[` … `]` around every chunk.
  if (JSON_ROWS.has(format) && !['', '0', 'false'].includes(settings.get('output_format_json_array_of_rows') ?? '')) return 'buffer'
  if (CONCAT.includes(format)) return 'concat'
  if (format in HEADER) return 'header'
  return 'buffer'
}

/** Length of the header at the head of `chunk` in a `header`-mode format; throws when the chunk is too short to hold it. */
export function headerLength(format: string, chunk: Uint8Array): number {
  const shape = HEADER[format]
  if (!shape) throw new Error(`${format} has no header`)
  if (shape.kind === 'binary') return binaryHeaderLength(chunk, shape.records)
  if (shape.kind === 'lines') return afterRecords(chunk, shape.records, false)
  return afterRecords(chunk, shape.records, true)
}

// RowBinaryWithNames[AndTypes]: LEB128 column count n, then n (or 2n: names, then types) strings,
// each a LEB128 byte length and the bytes.
function binaryHeaderLength(chunk: Uint8Array, records: number): number {
  let p = 0
  const varint = () => {
    let value = 0
    for (let shift = 0; ; shift += 7) {
      if (p >= chunk.length || shift > 35) throw new Error('RowBinary header cut short')
      const b = chunk[p++]!
      value += (b & 0x7f) * 2 ** shift
      if (b < 0x80) return value
    }
  }
  const columns = varint()
  for (let i = 0; i < columns * records; i++) {
    const length = varint() // read before adding: varint() moves p
    p += length
  }
  if (p > chunk.length) throw new Error('RowBinary header cut short')
  return p
}

// Text headers are one record per line; CSV quotes a name holding a newline, so its lines end only
// outside double quotes ("" inside quotes is an escaped quote, which toggling twice handles).
function afterRecords(chunk: Uint8Array, records: number, csv: boolean): number {
  let quoted = false
  let seen = 0
  for (let p = 0; p < chunk.length; p++) {
    const c = chunk[p]
    if (csv && c === 0x22) quoted = !quoted
    else if (c === 0x0a && !quoted && ++seen === records) return p + 1
  }
  throw new Error('text header cut short')
}
