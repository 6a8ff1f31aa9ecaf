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
// A client bound to a tenant (its API key's or token's; without authentication, the one its
// upgrade request named) sees that tenant's logs, alerts, notifications and rates only (filters
// apply to logs); notifications are the inbox's changes as they happen, not its contents: nothing
// is replayed on subscribe.
// Close codes and reasons: close.ts.
// Bounds: a frame is at most MAX_PAYLOAD_BYTES (larger ones close with 1009), and the schema's
// limits keep every valid message under it; an error message is at most ERROR_MAX_BYTES.
import { z } from 'zod'
import { CATEGORIES, INPUT_LIMITS, SEVERITY_TEXTS, parseSeverity, truncateUtf8 } from '@sluice/core'

export const CHANNELS = ['logs', 'alerts', 'stats'] as const
export type Channel = (typeof CHANNELS)[number]

/** The largest client frame (ws maxPayload): one message in flight per connection holds at most this. */
export const MAX_PAYLOAD_BYTES = 64 * 1024
/** The bound on service names at the doors (INPUT_LIMITS): a longer one is never stored, so it could never match. */
export const SERVICE_NAME_MAX_CHARS = INPUT_LIMITS.nameChars
export const SERVICES_MAX = 1000
/**
 * The services filter's names together. With it every valid message fits in MAX_PAYLOAD_BYTES
 * even with every character escaped as \uXXXX (6 bytes; Python's json.dumps does so by default
 * for anything not ASCII): 8192 × 6 + 1000 × 3 for quotes and commas, + 6 KB for q and the rest.
 * A thousand names of 256 characters could not fit, however they were written.
 */
export const SERVICES_MAX_CHARS = 8192
/** An error message's longest text: the first issue named, the rest counted, never an echo of a whole frame. */
export const ERROR_MAX_BYTES = 1024

/** Level names as the query API's ?level= reads them (any case, `warning`, `err`), normalised to the stored name. */
const levelName = z
  .string()
  .max(32)
  .transform((v, ctx) => {
    const s = parseSeverity(v)
    if (s) return s.text
    ctx.addIssue({ code: 'custom', message: `unknown level ${JSON.stringify(v)}: expected one of ${SEVERITY_TEXTS.join(', ')} (any case)` })
    return z.NEVER
  })

export const filtersSchema = z.strictObject({
  services: z
    .array(z.string().min(1).max(SERVICE_NAME_MAX_CHARS))
    .max(SERVICES_MAX)
    .refine((names) => names.reduce((n, s) => n + s.length, 0) <= SERVICES_MAX_CHARS, `at most ${SERVICES_MAX_CHARS} characters of names in all`)
    .optional(),
  minLevel: levelName.optional(),
  category: z.enum(CATEGORIES).optional(),
  patternId: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  q: z.string().min(1).max(1000).optional(),
})
export type Filters = z.infer<typeof filtersSchema>

/** Bounded before its items are read: a frame of 30 000 bad items is one issue, not 30 000. */
const channelList = z.array(z.enum(CHANNELS)).min(1).max(CHANNELS.length)

export const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('subscribe'), channels: channelList, filters: filtersSchema.optional() }),
  z.strictObject({ type: z.literal('unsubscribe'), channels: channelList }),
  z.strictObject({ type: z.literal('pause') }),
  z.strictObject({ type: z.literal('resume') }),
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(4096) }),
])
export type ClientMessage = z.infer<typeof clientMessageSchema>

/**
 * Parses one text frame; an error message names the first thing wrong and counts the others,
 * within ERROR_MAX_BYTES: listing every issue made a 60 KB frame answer 2.4 MB.
 */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: 'invalid JSON' }
  }
  const r = clientMessageSchema.safeParse(json)
  if (r.success) return { ok: true, message: r.data }
  const [first, ...rest] = r.error.issues
  const named = `${first!.path.join('.') || 'message'}: ${first!.message}`
  return { ok: false, error: ellipsizeUtf8(rest.length > 0 ? `${named} (and ${rest.length} more)` : named, ERROR_MAX_BYTES) }
}

/** `text` cut to at most `maxBytes` of UTF-8 on a character boundary, ending in … (3 bytes) when cut. */
export function ellipsizeUtf8(text: string, maxBytes: number): string {
  return truncateUtf8(text, maxBytes).truncated ? `${truncateUtf8(text, maxBytes - 3).text}…` : text
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
