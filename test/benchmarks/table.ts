// Result rows and their plain-text table. A row is one figure of one section; a target, when a
// row has one, is printed beside the figure with ✓ or ✗ (a miss is information, not a failure).

export interface Target {
  op: '>=' | '<='
  value: number
}

export interface Row {
  section: string
  metric: string
  value: number | string
  unit?: string
  /** Decimals to print for a number (default: 0 for ≥ 100, else 2). */
  decimals?: number
  target?: Target
}

export function met(row: Row): boolean | undefined {
  if (!row.target || typeof row.value !== 'number') return undefined
  return row.target.op === '>=' ? row.value >= row.target.value : row.value <= row.target.value
}

export function formatNumber(n: number, decimals?: number): string {
  if (!Number.isFinite(n)) return String(n)
  const d = decimals ?? (Math.abs(n) >= 100 || Number.isInteger(n) ? 0 : 2)
  return n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d })
}

function cell(row: Row): { value: string; target: string; ok: string } {
  const value = typeof row.value === 'number' ? formatNumber(row.value, row.decimals) : row.value
  if (!row.target) return { value, target: '', ok: '' }
  const ok = met(row)
  return {
    value,
    target: `${row.target.op === '>=' ? '≥' : '≤'} ${formatNumber(row.target.value, row.decimals)}`,
    ok: ok === undefined ? '?' : ok ? '✓' : '✗',
  }
}

/** Aligned columns; numbers right-aligned; a blank line between sections. */
export function renderTable(rows: readonly Row[]): string {
  const header = { section: 'section', metric: 'metric', value: 'value', unit: 'unit', target: 'target', ok: '' }
  const cells = rows.map((r) => ({ section: r.section, metric: r.metric, unit: r.unit ?? '', numeric: typeof r.value === 'number', ...cell(r) }))
  const width = (pick: (c: typeof header) => string) => Math.max(...[header, ...cells].map((c) => [...pick(c)].length))
  const w = {
    section: width((c) => c.section),
    metric: width((c) => c.metric),
    value: width((c) => c.value),
    unit: width((c) => c.unit),
    target: width((c) => c.target),
  }
  // Code-point aware padding: ≥, ✓ and µ are one column wide but more than one UTF-16 unit.
  const padEnd = (s: string, n: number) => s + ' '.repeat(Math.max(0, n - [...s].length))
  const padStart = (s: string, n: number) => ' '.repeat(Math.max(0, n - [...s].length)) + s
  const line = (c: typeof header, numeric: boolean) =>
    [
      padEnd(c.section, w.section),
      padEnd(c.metric, w.metric),
      numeric ? padStart(c.value, w.value) : padEnd(c.value, w.value),
      padEnd(c.unit, w.unit),
      padEnd(c.target, w.target),
      c.ok,
    ]
      .join('  ')
      .trimEnd()
  const out = [line(header, false), line({ section: '-'.repeat(w.section), metric: '-'.repeat(w.metric), value: '-'.repeat(w.value), unit: '-'.repeat(w.unit), target: '-'.repeat(w.target), ok: '' }, false)]
  let previous: string | undefined
  for (const c of cells) {
    if (previous !== undefined && c.section !== previous) out.push('')
    out.push(line(previous === c.section ? { ...c, section: '' } : c, c.numeric))
    previous = c.section
  }
  return out.join('\n')
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}
