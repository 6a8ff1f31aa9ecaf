// A question turned into what to look at: the service, the levels, an error code, words to rank
// patterns by, and the time window. The model makes it from the question (a JSON plan validated
// here, names checked against the services that exist), or, without a model, the fallback reads
// it from the question's words: service names it mentions, time phrases, codes, levels.
import { z } from 'zod'

export const INTENTS = ['root_cause', 'impact', 'trend', 'find_logs'] as const

/** The model's plan, as it must answer. */
export const planSchema = z.object({
  intent: z.enum(INTENTS).default('root_cause'),
  service: z.string().max(256).nullable().default(null),
  levels: z.array(z.enum(['warn', 'error', 'fatal'])).min(1).max(3).default(['error', 'fatal']),
  error_code: z.string().max(128).nullable().default(null),
  keywords: z.array(z.string().min(2).max(64)).max(8).default([]),
  last_minutes: z.number().int().min(1).max(44_640).nullable().default(null),
  /** Extra LogQL queries worth running (counts shown with the answer). */
  logql: z.array(z.string().min(1).max(1000)).max(3).default([]),
})
export type ModelPlan = z.output<typeof planSchema>

export interface Plan extends Omit<ModelPlan, 'last_minutes'> {
  fromNs: bigint
  toNs: bigint
  source: 'llm' | 'fallback'
  /** What the plan left out or changed, for the reader (an unknown service, a clamped window). */
  notes: string[]
}

export const PLAN_SYSTEM = `You turn a question about an application's logs into a search plan for a log store.
Answer with one JSON object:
{"intent": "root_cause"|"impact"|"trend"|"find_logs",
 "service": <one of the KNOWN SERVICES, or null when the question names none>,
 "levels": subset of ["warn","error","fatal"] (default ["error","fatal"]; add "warn" for slowness or warnings),
 "error_code": <an error code the question names verbatim, or null>,
 "keywords": <up to 8 lower-case words from the question that would appear in the relevant log lines, e.g. "payment", "timeout">,
 "last_minutes": <the time window the question names, in minutes ("last hour" = 60, "today" = minutes since midnight UTC), or null>,
 "logql": <up to 3 LogQL queries (Grafana Loki syntax, labels service_name and level) worth running, or []>}
`

const MINUTES = { minute: 1, min: 1, hour: 60, hr: 60, day: 1440, week: 10_080 } as const
const NUMBER_WORDS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3, four: 4, five: 5, six: 6, twelve: 12, fifteen: 15, thirty: 30 }
const STOP = new Set(
  'a an the is are was were be been why what when where who how which did does do has have had in on at of for to from and or not no with by this that these those last past since today yesterday hour hours minute minutes day days week weeks my our any all some there their it its me we us show find list tell give about failing fail fails failed failure failures error errors broken down happening happened going wrong problem problems issue issues'.split(
    ' ',
  ),
)
const WARN_WORDS = /\b(slow|slowness|latency|warn|warning|warnings|degraded)\b/i

/**
 * The fallback plan: the window from phrases like "last 2 hours", "past 30 minutes", "today",
 * "yesterday"; the service the question names (as written, singular or plural, or a service
 * whose name contains the word); an error code (upper-case with digits or underscores); levels
 * (warn too for slowness); the remaining words as keywords.
 */
export function fallbackPlan(question: string, services: readonly string[], nowMs: number): ModelPlan & { window?: { fromMs: number; toMs: number } } {
  const q = question.toLowerCase()
  let lastMinutes: number | null = null
  let window: { fromMs: number; toMs: number } | undefined
  const m = /\b(?:last|past|previous)\s+(\d+|a|an|one|two|three|four|five|six|twelve|fifteen|thirty)?\s*(minute|min|hour|hr|day|week)s?\b/.exec(q)
  if (m) lastMinutes = (m[1] === undefined ? 1 : (NUMBER_WORDS[m[1]] ?? Number(m[1]))) * MINUTES[m[2] as keyof typeof MINUTES]
  else if (/\btoday\b/.test(q)) lastMinutes = Math.max(1, Math.ceil((nowMs % 86_400_000) / 60_000))
  else if (/\byesterday\b/.test(q)) {
    const midnight = nowMs - (nowMs % 86_400_000)
    window = { fromMs: midnight - 86_400_000, toMs: midnight }
  }
  const words = q.match(/[a-z0-9][a-z0-9_.-]*/g) ?? []
  const service = matchService(words, services)
  const code = /\b([A-Z][A-Z0-9]*_[A-Z0-9_]+|[A-Z]{1,4}-?\d{3,})\b/.exec(question)?.[1] ?? null
  const serviceWords = new Set(service === null ? [] : [service.toLowerCase(), ...service.toLowerCase().split(/[-_.]/)])
  const keywords = [...new Set(words.filter((w) => w.length >= 3 && !STOP.has(w) && !/^\d+$/.test(w) && !serviceWords.has(w) && !serviceWords.has(singular(w)) && w !== code?.toLowerCase()))].slice(0, 8)
  return {
    intent: /\b(how many|impact|affected|who)\b/.test(q) ? 'impact' : /\b(trend|over time|spike|increase)\b/.test(q) ? 'trend' : /\b(show|find|list)\b/.test(q) ? 'find_logs' : 'root_cause',
    service,
    levels: WARN_WORDS.test(q) ? ['warn', 'error', 'fatal'] : ['error', 'fatal'],
    error_code: code,
    keywords,
    last_minutes: lastMinutes,
    logql: [],
    ...(window && { window }),
  }
}

const singular = (w: string) => (w.endsWith('ies') ? `${w.slice(0, -3)}y` : w.endsWith('es') && /(s|x|ch|sh)es$/.test(w) ? w.slice(0, -2) : w.endsWith('s') ? w.slice(0, -1) : w)

/** A service the words name: exactly, singular/plural, or as a part of its name (payment → payment-api). */
export function matchService(words: readonly string[], services: readonly string[]): string | null {
  const lower = new Map(services.map((s) => [s.toLowerCase(), s]))
  for (const w of words) {
    const exact = lower.get(w) ?? lower.get(singular(w)) ?? lower.get(`${w}s`)
    if (exact !== undefined) return exact
  }
  for (const w of words) {
    if (w.length < 4 || STOP.has(w)) continue
    const base = singular(w)
    const hits = services.filter((s) => s.toLowerCase().split(/[-_.]/).some((part) => part === base || part === w || singular(part) === base))
    if (hits.length === 1) return hits[0]!
  }
  return null
}

/** The plan a model answered, checked: a service that does not exist is dropped (with a note). */
export function checkModelPlan(p: ModelPlan, services: readonly string[]): { plan: ModelPlan; notes: string[] } {
  const notes: string[] = []
  let service = p.service
  if (service !== null && !services.includes(service)) {
    const matched = matchService([service.toLowerCase()], services)
    notes.push(matched === null ? `the model named service ${JSON.stringify(service)}, which has no logs here; searched every service` : `service ${JSON.stringify(service)} read as ${matched}`)
    service = matched
  }
  return { plan: { ...p, service, keywords: p.keywords.map((k) => k.toLowerCase()) }, notes }
}
