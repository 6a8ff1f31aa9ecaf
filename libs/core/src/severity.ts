// Severity normalisation to the OpenTelemetry log data model: SeverityNumber 1–24 in six ranges
// (TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN 13–16, ERROR 17–20, FATAL 21–24) and its short name.

export const SEVERITY_TEXTS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'] as const
export type SeverityText = (typeof SEVERITY_TEXTS)[number]

export interface Severity {
  text: SeverityText
  number: number
}

const BY_NAME: Record<string, number> = {
  trace: 1, trc: 1, finest: 1, finer: 2, verbose: 3,
  debug: 5, dbg: 5, fine: 5, config: 7,
  info: 9, information: 9, informational: 9, inf: 9, notice: 10, log: 9, http: 8, silly: 1,
  warn: 13, warning: 13, wrn: 13,
  error: 17, err: 17, eror: 17, severe: 17, fail: 17, failure: 17,
  critical: 21, crit: 21, alert: 22, emerg: 23, emergency: 23, fatal: 21, panic: 23,
}

// Syslog (RFC 5424) severities 0 (emergency) … 7 (debug), used when a caller says so explicitly.
const SYSLOG: readonly number[] = [23, 22, 21, 17, 13, 10, 9, 5]

export function severityFromNumber(n: number): Severity {
  const number = Math.min(24, Math.max(1, Math.trunc(n)))
  return { number, text: SEVERITY_TEXTS[Math.floor((number - 1) / 4)] ?? 'FATAL' }
}

export function severityFromSyslog(code: number): Severity | undefined {
  const n = SYSLOG[code]
  return n === undefined ? undefined : severityFromNumber(n)
}

/** pino and bunyan: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal; custom levels round down. */
export function severityFromPino(n: number): Severity {
  const step = Math.min(5, Math.max(0, Math.floor(n / 10) - 1))
  return severityFromNumber(step * 4 + 1)
}

/**
 * A record's level as loggers write it: a name (see parseSeverity), an OTel SeverityNumber 1–24,
 * or a number above 24 on the pino/bunyan scale (severityFromPino) — numeric strings alike. 0 is
 * OTel's SEVERITY_NUMBER_UNSPECIFIED: null, as if no level were given. Unknown → undefined.
 * (pino's 10 and 20 are OTel numbers too; a caller that knows the record is pino's decides.)
 */
export function parseLevel(input: string | number): Severity | null | undefined {
  const c = typeof input === 'string' ? input.charCodeAt(0) : 0
  const numeric = typeof input === 'number' || ((c === 32 || (c >= 48 && c <= 57)) && /^\s*\d+\s*$/.test(input))
  const n = numeric ? Number(input) : undefined
  if (n === undefined) return parseSeverity(input)
  if (!Number.isInteger(n) || n < 0) return undefined
  if (n === 0) return null
  return n <= 24 ? severityFromNumber(n) : severityFromPino(n)
}

/**
 * Accepts the common spellings ("warning", "ERR", "Critical", "I"), OTel numbers (1–24),
 * OTel names with a suffix ("INFO2", "ERROR3") and numeric strings. Unknown → undefined.
 */
export function parseSeverity(input: string | number | undefined | null): Severity | undefined {
  if (input === undefined || input === null) return undefined
  if (typeof input === 'number') return Number.isFinite(input) && input >= 1 && input <= 24 ? severityFromNumber(input) : undefined
  const raw = input.trim().toLowerCase()
  if (raw === '') return undefined
  if (/^\d+$/.test(raw)) return parseSeverity(Number(raw))
  const known = BY_NAME[raw]
  if (known !== undefined) return severityFromNumber(known)
  const suffixed = /^(trace|debug|info|warn|error|fatal)([1-4])$/.exec(raw)
  if (suffixed?.[1] && suffixed[2]) {
    const base = BY_NAME[suffixed[1]] ?? 9
    return severityFromNumber(base + Number(suffixed[2]) - 1)
  }
  if (raw.length === 1) {
    const letter = { t: 1, d: 5, i: 9, w: 13, e: 17, f: 21, c: 21 }[raw]
    return letter === undefined ? undefined : severityFromNumber(letter)
  }
  return undefined
}
