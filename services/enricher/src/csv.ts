// A small RFC 4180 CSV reader for the Loghub structured files: fields may be quoted, quoted
// fields may hold commas, line breaks and doubled quotes (""), records end in LF or CRLF.

/** All records of `text`, each an array of fields; a trailing line break adds no empty record. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]
    if (c === '"' && field === '') {
      // Quoted field: read to the closing quote, unescaping "".
      i++
      while (i < n) {
        const q = text.indexOf('"', i)
        if (q < 0) throw new SyntaxError('unterminated quoted field')
        field += text.slice(i, q)
        if (text[q + 1] === '"') {
          field += '"'
          i = q + 2
        } else {
          i = q + 1
          break
        }
      }
      continue
    }
    if (c === ',') {
      row.push(field)
      field = ''
    } else if (c === '\n' || c === '\r') {
      row.push(field)
      rows.push(row)
      row = []
      field = ''
      if (c === '\r' && text[i + 1] === '\n') i++
    } else {
      field += c
    }
    i++
  }
  if (field !== '' || row.length > 0) {
    row.push(field)
    rows.push(row)
  }
  return rows
}

/** Records as objects keyed by the header row. */
export function parseCsvObjects(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text)
  if (!header) return []
  return rows.map((r) => Object.fromEntries(header.map((h, j) => [h, r[j] ?? ''])))
}
