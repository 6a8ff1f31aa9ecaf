// Who gets what: the live fan-out's subscribers and, per record, the one frame and the clients
// that want it. Subscribers are indexed by their filters, so a log is matched only against those
// it could concern: most dashboards follow a few services (indexed by service), and most others
// watch only errors (the rest indexed by minimum severity: an INFO log never meets an errors-only
// client). Each frame is serialised once and the same bytes go to every client that wants it.
// A client bound to a tenant gets that tenant's logs, alerts, inbox changes and rates only.
import type { Alert, EnrichedLog } from '@sluice/core'
import { formatNs } from '@sluice/core'
import { textFrame } from './client.js'
import type { InboxChange } from './notifications.js'
import type { Channel } from './protocol.js'

/** A connected client as the fan-out sees it (StreamClient is one; tests use fakes). */
export interface Subscriber {
  readonly channels: ReadonlySet<Channel>
  /** Its services filter (undefined: every service). */
  readonly services: readonly string[] | undefined
  /** The lowest severity number it wants (0: every level). */
  readonly minSeverity: number
  wantsLog(log: EnrichedLog): boolean
  /** Alerts and inbox changes of this tenant, on the alerts channel. */
  wantsAlert(alert: { tenant: string }): boolean
  /** The only tenant it may see (its rates are that tenant's); undefined: every tenant. */
  readonly tenant?: string | undefined
  offer(frame: Buffer): void
}

/** A frame and the subscribers it goes to. */
export interface Delivery {
  frame: Buffer
  to: Subscriber[]
  /** When Sluice first saw the record (ms), for the delivery latency metric; alerts and notifications have none. */
  observedMs?: number
}

/** Wire shape of a record: bigint nanoseconds become RFC 3339 strings (a copy; fields in order). */
export function toJson<T extends object>(record: T): Record<string, unknown> {
  const out = { ...record } as Record<string, unknown>
  for (const k in out) {
    const v = out[k]
    if (typeof v === 'bigint') out[k] = formatNs(v)
  }
  return out
}

export class Fanout {
  readonly #all = new Set<Subscriber>()
  readonly #byService = new Map<string, Set<Subscriber>>()
  /** Subscribers to every service, by their minimum severity (0–24). */
  readonly #anyService: Array<Set<Subscriber>> = Array.from({ length: 25 }, () => new Set())
  /** Counts since the last stats interval, by tenant, then service. */
  readonly #stats = new Map<string, Map<string, { total: number; errors: number }>>()

  get size(): number {
    return this.#all.size
  }

  get subscribers(): ReadonlySet<Subscriber> {
    return this.#all
  }

  /** Someone is subscribed to something: records are worth reading. */
  get listening(): boolean {
    for (const s of this.#all) if (s.channels.size > 0) return true
    return false
  }

  add(s: Subscriber): void {
    this.#all.add(s)
    this.#index(s)
  }

  remove(s: Subscriber): void {
    this.#all.delete(s)
    this.#unindex(s)
  }

  /** Wraps a change of the subscriber's channels or filters, keeping the index right. */
  update(s: Subscriber, change: () => void): void {
    this.#unindex(s)
    change()
    if (this.#all.has(s)) this.#index(s)
  }

  #index(s: Subscriber): void {
    if (!s.channels.has('logs')) return
    if (!s.services) this.#anyService[Math.min(24, Math.max(0, s.minSeverity))]!.add(s)
    else for (const svc of s.services) (this.#byService.get(svc) ?? this.#byService.set(svc, new Set()).get(svc)!).add(s)
  }

  #unindex(s: Subscriber): void {
    for (const level of this.#anyService) level.delete(s)
    for (const svc of s.services ?? []) this.#byService.get(svc)?.delete(s)
  }

  /** The log's frame and who wants it; undefined when nobody does (no frame is built). */
  log(e: EnrichedLog): Delivery | undefined {
    const services = this.#stats.get(e.tenant) ?? this.#stats.set(e.tenant, new Map()).get(e.tenant)!
    const s = services.get(e.service)
    if (s) {
      s.total++
      if (e.is_error) s.errors++
    } else services.set(e.service, { total: 1, errors: e.is_error ? 1 : 0 })
    // Loops, not a closure per log: a thousand subscribers see five thousand logs a second.
    const to: Subscriber[] = []
    const ofService = this.#byService.get(e.service)
    if (ofService) for (const c of ofService) if (c.wantsLog(e)) to.push(c)
    const top = Math.min(24, e.severity_number)
    for (let level = 0; level <= top; level++) {
      const set = this.#anyService[level]!
      if (set.size > 0) for (const c of set) if (c.wantsLog(e)) to.push(c)
    }
    if (to.length === 0) return undefined
    return { frame: textFrame(JSON.stringify({ type: 'log', data: toJson(e) })), to, observedMs: Number(e.observed_timestamp / 1_000_000n) }
  }

  alert(a: Alert): Delivery | undefined {
    const to = this.#alertSubscribers(a.tenant)
    if (to.length === 0) return undefined
    return { frame: textFrame(JSON.stringify({ type: 'alert', data: toJson(a) })), to }
  }

  /** An inbox change goes where its tenant's alerts go: the item as stored, or which item was deleted. */
  notification(n: InboxChange): Delivery | undefined {
    const to = this.#alertSubscribers(n.tenant)
    if (to.length === 0) return undefined
    const msg = n.kind === 'item' ? { type: 'notification', data: n.item } : { type: 'notification_deleted', data: { tenant: n.tenant, id: n.id } }
    return { frame: textFrame(JSON.stringify(msg)), to }
  }

  #alertSubscribers(tenant: string): Subscriber[] {
    const to: Subscriber[] = []
    const record = { tenant }
    for (const c of this.#all) if (c.wantsAlert(record)) to.push(c)
    return to
  }

  /**
   * Per-service rates since the last call, as frames for the stats channel: a tenant's clients get
   * its services' rates, clients of every tenant the sums over tenants. The counts start over.
   */
  stats(intervalMs: number): Delivery[] {
    const seconds = intervalMs / 1000
    const frames = (counts: Iterable<[string, { total: number; errors: number }]>, to: Subscriber[]): Delivery[] =>
      [...counts].map(([service, s]) => ({ frame: textFrame(JSON.stringify({ type: 'stats', data: { service, ratePerS: s.total / seconds, errorRatePerS: s.errors / seconds } })), to }))
    const everyTenant: Subscriber[] = []
    const byTenant = new Map<string, Subscriber[]>()
    for (const c of this.#all) {
      if (!c.channels.has('stats')) continue
      if (c.tenant === undefined) everyTenant.push(c)
      else (byTenant.get(c.tenant) ?? byTenant.set(c.tenant, []).get(c.tenant)!).push(c)
    }
    const out: Delivery[] = []
    if (everyTenant.length > 0) {
      const sums = new Map<string, { total: number; errors: number }>()
      for (const services of this.#stats.values()) {
        for (const [service, s] of services) {
          const sum = sums.get(service) ?? sums.set(service, { total: 0, errors: 0 }).get(service)!
          sum.total += s.total
          sum.errors += s.errors
        }
      }
      out.push(...frames(sums, everyTenant))
    }
    for (const [tenant, to] of byTenant) out.push(...frames(this.#stats.get(tenant) ?? [], to))
    this.#stats.clear()
    return out
  }
}
