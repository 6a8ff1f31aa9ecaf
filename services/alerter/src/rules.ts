// The alert rules file (ALERTER_RULES_FILE, JSON), validated with zod, plus the built-in defaults.
// Only the schema and the error_rate, error_count and level evaluators have landed; the
// other kinds are validated here so a rules file written today stays valid when they land.
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
}
const windowed = {
  windowMs: z.number().int().positive().default(300_000),
  slideMs: z.number().int().positive().default(60_000),
}

export const ruleSchema = z.discriminatedUnion('kind', [
  z.object({ ...base, ...windowed, kind: z.literal('error_rate'), thresholdRatio: z.number().min(0).max(1).default(0.05), minRecords: z.number().int().nonnegative().default(20) }),
  z.object({ ...base, ...windowed, kind: z.literal('error_count'), threshold: z.number().int().positive() }),
  z.object({ ...base, ...windowed, kind: z.literal('spike'), increaseRatio: z.number().positive().default(0.5), baselineMs: z.number().int().positive().default(3_600_000) }),
  z.object({ ...base, kind: z.literal('absence'), silentMs: z.number().int().positive().default(600_000) }),
  z.object({ ...base, kind: z.literal('level'), level: z.enum(['ERROR', 'FATAL']).default('FATAL') }),
  z.object({ ...base, ...windowed, kind: z.literal('pattern'), regex: z.string().optional(), patternId: z.string().optional(), category: z.string().optional(), threshold: z.number().int().positive().default(1) }),
  z.object({ ...base, kind: z.literal('new_pattern') }),
])
export type Rule = z.infer<typeof ruleSchema>

export const rulesFileSchema = z.object({ rules: z.array(ruleSchema) })
export type RulesFile = z.infer<typeof rulesFileSchema>

export const DEFAULT_RULES: RulesFile = rulesFileSchema.parse({
  rules: [
    { id: 'error-rate', name: 'Error rate above 5 % over 5 min', kind: 'error_rate', severity: 'critical' },
    { id: 'fatal', name: 'FATAL log', kind: 'level', severity: 'critical' },
    { id: 'absence', name: 'Service unavailable', kind: 'absence', severity: 'critical' },
    { id: 'spike', name: 'Log volume spike', kind: 'spike' },
    { id: 'new-error-pattern', name: 'New error pattern', kind: 'new_pattern' },
  ],
})

/** Parses a rules file's JSON text; every zod issue is reported with its path. */
export function parseRules(json: string): RulesFile {
  const result = rulesFileSchema.safeParse(JSON.parse(json))
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

type ErrorRateRule = Extract<Rule, { kind: 'error_rate' }>
type ErrorCountRule = Extract<Rule, { kind: 'error_count' }>

/** error_rate: errors / total strictly above the ratio, ignoring windows with too few records to mean anything. */
export function evaluateErrorRate(rule: ErrorRateRule, w: ClosedWindow): Breach | null {
  if (w.total < rule.minRecords || w.total === 0) return null
  const value = w.errors / w.total
  return value > rule.thresholdRatio ? { value, threshold: rule.thresholdRatio } : null
}

/** error_count: at least `threshold` errors in the window. */
export function evaluateErrorCount(rule: ErrorCountRule, w: ClosedWindow): Breach | null {
  return w.errors >= rule.threshold ? { value: w.errors, threshold: rule.threshold } : null
}

type LevelRule = Extract<Rule, { kind: 'level' }>
const LEVEL_RANK = { ERROR: 0, FATAL: 1 } as const

/** level: fires immediately, per record, at or above the rule's level (no window). */
export function evaluateLevel(rule: LevelRule, level: string): boolean {
  return (level === 'ERROR' || level === 'FATAL') && LEVEL_RANK[level] >= LEVEL_RANK[rule.level]
}
