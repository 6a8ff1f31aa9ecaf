// The alert rules file (ALERTER_RULES_FILE, JSON), validated with zod, plus the built-in defaults
// and the pure evaluators of the windowed kinds. Times are milliseconds of event time, except
// absence, which is checked against processing time (a silent service produces no event time).
import { z } from 'zod'
import { ALERT_SEVERITIES } from '@sluice/core'
import type { ClosedWindow } from './window.js'

const base = {
  id: z.string().min(1),
  name: z.string().min(1),
  severity: z.enum(ALERT_SEVERITIES).default('warning'),
  /** Restrict to one tenant/service; absent means every one. */
  tenant: z.string().optional(),
  service: z.string().optional(),
  /** The condition must stay clear this long before a firing alert resolves. */
  resolveHoldMs: z.number().int().nonnegative().default(120_000),
  /** While firing, value updates are produced at most this often (one incident, few records). */
  updateIntervalMs: z.number().int().nonnegative().default(60_000),
  /** After resolving, the same fingerprint cannot fire again for this long (flapping guard). */
  cooldownMs: z.number().int().nonnegative().default(300_000),
}
const windowed = {
  windowMs: z.number().int().positive().default(300_000),
  slideMs: z.number().int().positive().default(60_000),
}

const regex = z.string().refine((s) => {
  try {
    new RegExp(s)
    return true
  } catch {
    return false
  }
}, 'not a valid regular expression')

export const ruleSchema = z.discriminatedUnion('kind', [
  z.object({ ...base, ...windowed, kind: z.literal('error_rate'), thresholdRatio: z.number().min(0).max(1).default(0.05), minRecords: z.number().int().nonnegative().default(20) }),
  z.object({ ...base, ...windowed, kind: z.literal('error_count'), threshold: z.number().int().positive() }),
  z.object({
    ...base,
    ...windowed,
    kind: z.literal('spike'),
    /** What spikes: error records (default) or all records (volume). */
    measure: z.enum(['errors', 'records']).default('errors'),
    increaseRatio: z.number().positive().default(0.5),
    baselineMs: z.number().int().positive().default(3_600_000),
    minRecords: z.number().int().nonnegative().default(20),
  }),
  z.object({ ...base, kind: z.literal('absence'), silentMs: z.number().int().positive().default(600_000) }),
  z.object({ ...base, kind: z.literal('level'), level: z.enum(['ERROR', 'FATAL']).default('FATAL') }),
  z.object({ ...base, ...windowed, kind: z.literal('pattern'), regex: regex.optional(), patternId: z.string().optional(), category: z.string().optional(), threshold: z.number().int().positive().default(1) })
    .refine((r) => r.regex !== undefined || r.patternId !== undefined || r.category !== undefined, { message: 'a pattern rule needs regex, patternId or category' }),
  z.object({ ...base, kind: z.literal('new_pattern') }),
])
export type Rule = z.infer<typeof ruleSchema>
export type RuleOf<K extends Rule['kind']> = Extract<Rule, { kind: K }>
export type WindowedRule = RuleOf<'error_rate' | 'error_count' | 'spike' | 'pattern'>

export const rulesFileSchema = z
  .object({ rules: z.array(ruleSchema) })
  .refine((f) => new Set(f.rules.map((r) => r.id)).size === f.rules.length, { message: 'rule ids must be unique', path: ['rules'] })
  .refine((f) => f.rules.every((r) => !('windowMs' in r) || (r.windowMs % r.slideMs === 0 && (r.kind !== 'spike' || r.baselineMs % r.slideMs === 0))), {
    message: 'windowMs (and baselineMs) must be multiples of slideMs',
    path: ['rules'],
  })
export type RulesFile = z.infer<typeof rulesFileSchema>

export const DEFAULT_RULES: RulesFile = rulesFileSchema.parse({
  rules: [
    { id: 'error-rate', name: 'Error rate above 5 % over 5 min', kind: 'error_rate', severity: 'critical' },
    { id: 'fatal', name: 'FATAL log', kind: 'level', severity: 'critical' },
    { id: 'absence', name: 'Service unavailable', kind: 'absence', severity: 'critical' },
    { id: 'error-spike', name: 'Errors 50 % above the trailing hour', kind: 'spike' },
    { id: 'new-error-pattern', name: 'New error pattern', kind: 'new_pattern' },
  ],
})

/** Parses a rules file's JSON text; every zod issue is reported with its path. */
export function parseRules(json: string): RulesFile {
  let raw: unknown
  try {
    raw = JSON.parse(json)
  } catch (err) {
    throw new Error(`invalid alert rules file: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
  const result = rulesFileSchema.safeParse(raw)
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
    throw new Error(`invalid alert rules file: ${issues}`)
  }
  return result.data
}

export interface Breach {
  value: number
  threshold: number
}

/** error_rate: errors / total strictly above the ratio, ignoring windows with too few records to mean anything. */
export function evaluateErrorRate(rule: RuleOf<'error_rate'>, w: ClosedWindow): Breach | null {
  if (w.total < rule.minRecords || w.total === 0) return null
  const value = w.errors / w.total
  return value > rule.thresholdRatio ? { value, threshold: rule.thresholdRatio } : null
}

/** error_count (and pattern, whose window counts matching records as "errors"): at least `threshold` in the window. */
export function evaluateErrorCount(rule: RuleOf<'error_count' | 'pattern'>, w: ClosedWindow): Breach | null {
  return w.errors >= rule.threshold ? { value: w.errors, threshold: rule.threshold } : null
}

/**
 * spike: the window's engine spans baseline + current (recentMs = windowMs). The rate over the
 * current window is compared with the rate over the baseline before it; the value is the relative
 * increase (0.8 = +80 %). A key without any baseline activity never spikes (nothing to compare).
 */
export function evaluateSpike(rule: RuleOf<'spike'>, w: ClosedWindow): Breach | null {
  if (w.recent === undefined) return null
  const pick = (c: { total: number; errors: number }) => (rule.measure === 'errors' ? c.errors : c.total)
  const current = pick(w.recent)
  const baseline = pick(w) - current
  if (current < rule.minRecords || baseline <= 0) return null
  const value = current / rule.windowMs / (baseline / rule.baselineMs) - 1
  return value > rule.increaseRatio ? { value, threshold: rule.increaseRatio } : null
}

const LEVEL_RANK = { ERROR: 0, FATAL: 1 } as const

/** level: fires immediately, per record, at or above the rule's level (no window). */
export function evaluateLevel(rule: RuleOf<'level'>, level: string): boolean {
  return (level === 'ERROR' || level === 'FATAL') && LEVEL_RANK[level] >= LEVEL_RANK[rule.level]
}
