// The /v1/stream protocol. Client → server (JSON text frames, validated with zod):
//   {"type":"subscribe","channels":["logs","alerts","stats"],"filters":{"services":[…],"minLevel":"WARN","category":…,"patternId":…,"q":"text"}}
//   {"type":"unsubscribe","channels":[…]}   {"type":"pause"}   {"type":"resume"}   {"type":"auth","token":…}
// Server → client:
//   {"type":"subscribed","channels":[…]}  {"type":"log","data":{…EnrichedLog}}  {"type":"alert","data":{…Alert}}
//   {"type":"notification","data":{…InboxItem as the alerter stored it}}          (alerts channel)
//   {"type":"notification_deleted","data":{"tenant":…,"id":…}}                    (alerts channel)
//   {"type":"stats","data":{"service":…,"ratePerS":…,"errorRatePerS":…}}  {"type":"dropped","count":n}
//   {"type":"error","message":…}
//   {"type":"auth_required","message":…}   (on connect, when the server wants a token first)
//   {"type":"authenticated","tenant":…}    (answering an auth message)
// A client bound to a tenant (its API key's or token's) sees that tenant's logs, alerts,
// notifications and rates only (filters apply to logs); notifications are the inbox's changes as
// they happen, not its contents: nothing is replayed on subscribe.
// Close codes: 1013 server full (WS_MAX_CLIENTS), 4001 unauthorized (bad, expired or missing
// token), 4002 idle, 4008 too slow, 4029 the tenant's connections are at ws_max_connections.
import { z } from 'zod'
import { CATEGORIES, SEVERITY_TEXTS, parseSeverity } from '@sluice/core'

export const CHANNELS = ['logs', 'alerts', 'stats'] as const
export type Channel = (typeof CHANNELS)[number]

export const filtersSchema = z.strictObject({
  services: z.array(z.string().min(1)).max(1000).optional(),
  minLevel: z.enum(SEVERITY_TEXTS).optional(),
  category: z.enum(CATEGORIES).optional(),
  patternId: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  q: z.string().min(1).max(1000).optional(),
})
export type Filters = z.infer<typeof filtersSchema>

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), channels: z.array(z.enum(CHANNELS)).min(1), filters: filtersSchema.optional() }),
  z.strictObject({ type: z.literal('unsubscribe'), channels: z.array(z.enum(CHANNELS)).min(1) }),
  z.strictObject({ type: z.literal('pause') }),
  z.strictObject({ type: z.literal('resume') }),
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(4096) }),
])
export type ClientMessage = z.infer<typeof clientMessageSchema>

/** Parses one text frame; an error message names what was wrong. */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: 'invalid JSON' }
  }
  const r = clientMessageSchema.safeParse(json)
  if (r.success) return { ok: true, message: r.data }
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ') }
}

/** The fields of a log the filters look at. */
export interface FilterableLog {
  service: string
  severity_number: number
  category: string
  pattern_id: string
  message: string
}

/** A compiled filter: chosen once per subscription so matching stays a few comparisons. */
export function compileFilters(f: Filters | undefined): (log: FilterableLog) => boolean {
  if (!f) return () => true
  const services = f.services && new Set(f.services)
  const min = f.minLevel ? parseSeverity(f.minLevel)!.number : 0
  return (log) =>
    (!services || services.has(log.service)) &&
    log.severity_number >= min &&
    (!f.category || log.category === f.category) &&
    (!f.patternId || log.pattern_id === f.patternId) &&
    (!f.q || log.message.includes(f.q))
}
