// The rules engine: assigns a category and is_error to every record. Rules come from a file
// validated with zod (every issue reported with its path), are compiled once into predicate
// lists, and are tried in order — the first rule whose conditions all hold wins. A rule that
// does not say `is_error` leaves it to the level (ERROR and above). No rule: `unknown`.
//
//   { "rules": [ { "id": "db-deadlock", "category": "database", "is_error": true,
//                  "min_level": "WARN", "services": ["orders-*"], "message": "deadlock",
//                  "attributes": { "db.system": "^postgres" } } ] }
import { SEVERITY_TEXTS } from '@sluice/core'
import { z } from 'zod'
import { LiteralScanner, requiredLiterals } from './literals.js'
import { CATEGORIES } from './model.js'
import type { Category } from './model.js'

const regexSource = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    try {
      new RegExp(s)
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${err instanceof Error ? err.message : String(err)}` })
    }
  })

const level = z.enum(SEVERITY_TEXTS)

export const ruleSchema = z
  .strictObject({
    id: z.string().min(1),
    category: z.enum(CATEGORIES),
    is_error: z.boolean().optional(),
    /** Any of these levels. */
    levels: z.array(level).min(1).optional(),
    /** This level or worse. */
    min_level: level.optional(),
    /** Exact service names, or globs with `*`. */
    services: z.array(z.string().min(1)).min(1).optional(),
    message: regexSource.optional(),
    template: regexSource.optional(),
    /** Attribute key → regex its value must match. `http_status` and `error_code` read the extracted fields. */
    attributes: z.record(z.string().min(1), regexSource).optional(),
    case_sensitive: z.boolean().default(false),
  })
  .refine((r) => r.levels ?? r.min_level ?? r.services ?? r.message ?? r.template ?? r.attributes, {
    message: 'a rule needs at least one condition (levels, min_level, services, message, template or attributes)',
  })

export const rulesFileSchema = z
  .strictObject({ rules: z.array(ruleSchema) })
  .superRefine((f, ctx) => {
    const seen = new Set<string>()
    f.rules.forEach((r, i) => {
      if (seen.has(r.id)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'id'], message: `duplicate rule id "${r.id}"` })
      seen.add(r.id)
    })
  })

export type Rule = z.input<typeof ruleSchema>
export type RulesFile = z.input<typeof rulesFileSchema>

export interface ClassifyInput {
  severityNumber: number
  service: string
  message: string
  template: string
  attributes: Readonly<Record<string, string>>
  httpStatus: number | null
  errorCode: string | null
}

export interface Classification {
  category: Category
  is_error: boolean
  /** Id of the rule that matched; null when none did. */
  rule: string | null
}

/** Per-record lowercase copies, made on first use: case-insensitive rules test these with case-sensitive regexes. */
interface Lowered {
  message: string | undefined
  template: string | undefined
  /** Whether the literal scanner has run over the lowercased message (one pass for every rule). */
  scanned: boolean
}
type Predicate = (input: ClassifyInput, lowered: Lowered) => boolean

interface CompiledRule {
  id: string
  category: Category
  isError: boolean | undefined
  predicates: Predicate[]
}

// OTel severity ranges: TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21.
const LEVEL_MIN: Readonly<Record<(typeof SEVERITY_TEXTS)[number], number>> = { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 }
const ERROR_LEVEL = 17

const levelOf = (n: number): number => Math.floor((n - 1) / 4)

function serviceMatcher(patterns: readonly string[]): Predicate {
  const exact = new Set(patterns.filter((p) => !p.includes('*')))
  const globs = patterns
    .filter((p) => p.includes('*'))
    .map((p) => new RegExp(`^${p.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`))
  return (i) => exact.has(i.service) || globs.some((g) => g.test(i.service))
}

function attributeReader(key: string): (i: ClassifyInput) => string | undefined {
  if (key === 'http_status') return (i) => i.attributes[key] ?? (i.httpStatus === null ? undefined : String(i.httpStatus))
  if (key === 'error_code') return (i) => i.attributes[key] ?? i.errorCode ?? undefined
  return (i) => i.attributes[key]
}

// Cheap conditions first, regexes last, so most rules are rejected without scanning text.
const lowerable = (r: z.output<typeof ruleSchema>, source: string) => !r.case_sensitive && !/[A-Z]/.test(source)
/** The lowercase message regexes' required literals, one group per rule (see literals.ts). */
interface MessagePrefilter {
  scanner: LiteralScanner
  groupOf: ReadonlyMap<z.output<typeof ruleSchema>, number>
}

function compileRule(r: z.output<typeof ruleSchema>, prefilter: MessagePrefilter): CompiledRule {
  const flags = r.case_sensitive ? '' : 'i'
  const predicates: Predicate[] = []
  if (r.levels) {
    const wanted = new Set(r.levels.map((l) => levelOf(LEVEL_MIN[l])))
    predicates.push((i) => wanted.has(levelOf(i.severityNumber)))
  }
  if (r.min_level) {
    const min = LEVEL_MIN[r.min_level]
    predicates.push((i) => i.severityNumber >= min)
  }
  if (r.services) predicates.push(serviceMatcher(r.services))
  for (const [key, source] of Object.entries(r.attributes ?? {})) {
    const read = attributeReader(key)
    const re = new RegExp(source, flags)
    predicates.push((i) => {
      const v = read(i)
      return v !== undefined && re.test(v)
    })
  }
  // V8 runs /i regexes markedly slower; a lowercase pattern (no upper-case letter, so no \D, \W,
  // \S or \B either) tested against the lowercased text matches the same ASCII text without it.
  if (r.template) {
    if (lowerable(r, r.template)) {
      const re = new RegExp(r.template)
      predicates.push((i, l) => re.test((l.template ??= i.template.toLowerCase())))
    } else {
      const re = new RegExp(r.template, flags)
      predicates.push((i) => re.test(i.template))
    }
  }
  if (r.message) {
    if (lowerable(r, r.message)) {
      const re = new RegExp(r.message)
      const lower = (i: ClassifyInput, l: Lowered) => (l.message ??= i.message.toLowerCase())
      const group = prefilter.groupOf.get(r)
      const { scanner } = prefilter
      if (group === undefined) predicates.push((i, l) => re.test(lower(i, l)))
      else
        predicates.push((i, l) => {
          if (!l.scanned) {
            scanner.scan(lower(i, l))
            l.scanned = true
          }
          return scanner.found(group) && re.test(lower(i, l))
        })
    } else {
      const re = new RegExp(r.message, flags)
      predicates.push((i) => re.test(i.message))
    }
  }
  return { id: r.id, category: r.category, isError: r.is_error, predicates }
}

export type Classify = (input: ClassifyInput) => Classification

/** Validates `file` (throws a ZodError listing every issue) and compiles it. */
export function compileRules(file: unknown): Classify {
  const parsed = rulesFileSchema.parse(file).rules
  // Most records match no message regex: one scan for every rule's literals rules most of them out.
  const groups: string[][] = []
  const groupOf = new Map<z.output<typeof ruleSchema>, number>()
  for (const r of parsed) {
    const literals = r.message !== undefined && lowerable(r, r.message) ? requiredLiterals(r.message) : undefined
    if (literals === undefined) continue
    groupOf.set(r, groups.length)
    groups.push(literals)
  }
  const prefilter = { scanner: new LiteralScanner(groups), groupOf }
  const rules = parsed.map((r) => compileRule(r, prefilter))
  return (input) => {
    const lowered: Lowered = { message: undefined, template: undefined, scanned: false }
    for (const rule of rules) {
      let ok = true
      for (const p of rule.predicates) {
        if (!p(input, lowered)) {
          ok = false
          break
        }
      }
      if (ok) return { category: rule.category, is_error: rule.isError ?? input.severityNumber >= ERROR_LEVEL, rule: rule.id }
    }
    return { category: 'unknown', is_error: input.severityNumber >= ERROR_LEVEL, rule: null }
  }
}
