// The in-app notification inbox: one item per alert status change (fired, acknowledged, resolved)
// with the channels it went to, read/unread, kept in a compacted topic (TOPIC_NOTIFICATIONS) so
// every alerter instance serves the same inbox and ws-fanout pushes each change live on the
// `alerts` channel. Key "<tenant>|<alert id>:<version>", value the item's JSON, a tombstone when
// deleted. The instance that owns the alert writes the item (again when the deliveries finished);
// any instance marks items read or deletes them. Each tenant keeps its newest `maxItems`.
// The owner's writes are batched off the notification path (a burst of alerts is a few produce
// calls, not two awaited per alert); marks and deletions through the API are written before
// they are answered.
import type { Logger } from 'pino'
import type { Alert, AlertSeverity, AlertStatus } from '@sluice/core'
import { formatNs } from '@sluice/core'
import { CompactedStore } from '@sluice/kafka'
import type { Kafka, MessageProducer } from '@sluice/kafka'

export type ChannelResult = 'pending' | 'delivered' | 'failed' | 'muted'

export interface InboxItem {
  v: 1
  /** "<alert id>:<version>" */
  id: string
  tenant: string
  alert_id: string
  version: number
  status: AlertStatus
  severity: AlertSeverity
  service: string
  rule_id: string
  rule_name: string
  rule_kind: string
  summary: string
  value: number
  threshold: number
  /** When the status change happened, ISO-8601. */
  at: string
  /** Who acknowledged or resolved, when a person did. */
  by: string | null
  channels: Array<{ name: string; result: ChannelResult }>
  read_at: string | null
  read_by: string | null
}

export interface InboxQuery {
  tenant: string
  read?: boolean | undefined
  severity?: AlertSeverity[] | undefined
  status?: AlertStatus[] | undefined
  service?: string | undefined
  alert_id?: string | undefined
  /** Items strictly older than this item id's time (paging), newest first. */
  before?: string | undefined
  limit: number
}

const key = (tenant: string, id: string) => `${tenant}|${id}`

export function inboxItem(alert: Alert, channels: InboxItem['channels']): InboxItem {
  return {
    v: 1,
    id: `${alert.id}:${alert.version}`,
    tenant: alert.tenant,
    alert_id: alert.id,
    version: alert.version,
    status: alert.status,
    severity: alert.severity,
    service: alert.service,
    rule_id: alert.rule_id,
    rule_name: alert.rule_name,
    rule_kind: alert.rule_kind,
    summary: alert.summary,
    value: alert.value,
    threshold: alert.threshold,
    at: formatNs(alert.status === 'resolved' && alert.resolved_at !== null ? alert.resolved_at : alert.updated_at),
    by: alert.status === 'resolved' ? alert.resolved_by : alert.status === 'acknowledged' ? alert.acknowledged_by : null,
    channels,
    read_at: null,
    read_by: null,
  }
}

/** Newest first; equal times by id, so paging is stable. */
const newestFirst = (a: InboxItem, b: InboxItem) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1)

export class Inbox {
  readonly #store: CompactedStore
  readonly #maxItems: number
  /** tenant → id → item, in the order items arrived (oldest first: what a trim drops). */
  readonly #items = new Map<string, Map<string, InboxItem>>()
  readonly #log: Logger
  /** Items and tombstones waiting for the next batch, by key (a later write of a key replaces an earlier one). */
  readonly #pending = new Map<string, Buffer | null>()
  #flushing: Promise<void> = Promise.resolve()
  #scheduled = false
  /** Marks and deletions through the API, one at a time: each selects what the one before left. */
  #changes: Promise<unknown> = Promise.resolve()

  constructor(opts: { kafka: Kafka; producer: MessageProducer; topic: string; groupId: string; maxItems: number; logger: Logger }) {
    this.#maxItems = opts.maxItems
    const log = opts.logger.child({ component: 'inbox' })
    this.#log = log
    this.#store = new CompactedStore({
      kafka: opts.kafka,
      producer: opts.producer,
      topic: opts.topic,
      readerGroupPrefix: `${opts.groupId}.inbox`,
      logger: opts.logger,
      onChange: (k, value) => {
        const sep = k.indexOf('|')
        if (value === null) return this.#forget(k.slice(0, sep), k.slice(sep + 1))
        try {
          this.#remember(JSON.parse(value.toString('utf8')) as InboxItem)
        } catch (err) {
          log.warn({ err, key: k }, 'unreadable inbox item skipped')
        }
      },
    })
  }

  async start(): Promise<void> {
    await this.#store.start()
    await this.#store.caughtUp(30_000)
  }

  get(tenant: string, id: string): InboxItem | undefined {
    return this.#items.get(tenant)?.get(id)
  }

  /** Undefined when `before` names no item of the tenant (deleted or trimmed since it was answered). */
  query(q: InboxQuery): { items: InboxItem[]; unread: number; total: number } | undefined {
    const all = [...(this.#items.get(q.tenant)?.values() ?? [])]
    const beforeAt = q.before === undefined ? undefined : this.get(q.tenant, q.before)
    if (q.before !== undefined && beforeAt === undefined) return undefined
    const items = all
      .filter(
        (i) =>
          (q.read === undefined || (i.read_at !== null) === q.read) &&
          (q.severity === undefined || q.severity.includes(i.severity)) &&
          (q.status === undefined || q.status.includes(i.status)) &&
          (q.service === undefined || i.service === q.service) &&
          (q.alert_id === undefined || i.alert_id === q.alert_id) &&
          (beforeAt === undefined || newestFirst(beforeAt, i) < 0),
      )
      .sort(newestFirst)
    return { items: items.slice(0, q.limit), unread: all.filter((i) => i.read_at === null).length, total: items.length }
  }

  /**
   * Writes an alert status change's item. A rewrite (the deliveries finished, a replay after a
   * restart) keeps the read state it has, and does not bring back an item someone deleted.
   */
  record(item: InboxItem, opts: { rewrite: boolean }): void {
    const current = this.get(item.tenant, item.id)
    if (opts.rewrite && current === undefined) return
    const next = current === undefined ? item : { ...item, read_at: current.read_at, read_by: current.read_by }
    this.#remember(next)
    this.#pending.set(key(next.tenant, next.id), Buffer.from(JSON.stringify(next)))
    // Beyond maxItems the oldest go (the map keeps arrival order).
    const items = this.#items.get(item.tenant)!
    for (const old of items.keys()) {
      if (items.size <= this.#maxItems) break
      items.delete(old)
      this.#pending.set(key(item.tenant, old), null)
    }
    this.#schedule()
  }

  /** Resolves once every item recorded before the call is written (or its write failed and was logged). */
  flushed(): Promise<void> {
    this.#schedule()
    return this.#flushing
  }

  /** Marks items read (or unread); returns how many changed. `ids` undefined: every item of the query's tenant. */
  mark(tenant: string, ids: string[] | undefined, read: boolean, by: string): Promise<number> {
    return this.#change(async () => {
      const now = new Date().toISOString()
      const changed = this.#select(tenant, ids)
        .filter((i) => (i.read_at !== null) !== read)
        .map((i) => ({ ...i, read_at: read ? now : null, read_by: read ? by : null }))
      await this.#write(changed)
      return changed.length
    })
  }

  /** Deletes items; returns how many there were. */
  delete(tenant: string, ids: string[] | undefined): Promise<number> {
    return this.#change(async () => {
      const gone = this.#select(tenant, ids)
      await this.#store.delete(gone.map((i) => key(tenant, i.id)))
      for (const i of gone) this.#forget(tenant, i.id)
      return gone.length
    })
  }

  /**
   * Runs an API change after the ones before it. A mark that selected an item while a deletion of
   * it was being written would otherwise write it back after its tombstone (and list it again).
   */
  #change(run: () => Promise<number>): Promise<number> {
    const next = this.#changes.then(run)
    this.#changes = next.catch(() => undefined)
    return next
  }

  async close(): Promise<void> {
    await this.flushed()
    await this.#store.close()
  }

  /** One batch per turn of the event loop: what was recorded meanwhile goes in one produce call. */
  #schedule(): void {
    if (this.#scheduled || this.#pending.size === 0) return
    this.#scheduled = true
    this.#flushing = this.#flushing.then(async () => {
      await new Promise((r) => setImmediate(r))
      this.#scheduled = false
      const batch = [...this.#pending]
      this.#pending.clear()
      const puts = batch.flatMap(([k, v]) => (v === null ? [] : [{ key: k, value: v }]))
      const tombstones = batch.flatMap(([k, v]) => (v === null ? [k] : []))
      try {
        if (puts.length > 0) await this.#store.put(puts)
        await this.#store.delete(tombstones)
      } catch (err) {
        this.#log.warn({ err, items: batch.length }, 'inbox items not written')
      }
    })
  }

  #select(tenant: string, ids: string[] | undefined): InboxItem[] {
    const items = this.#items.get(tenant)
    if (items === undefined) return []
    return ids === undefined ? [...items.values()] : [...new Set(ids)].flatMap((id) => items.get(id) ?? [])
  }

  async #write(items: InboxItem[]): Promise<void> {
    if (items.length === 0) return
    await this.#store.put(items.map((i) => ({ key: key(i.tenant, i.id), value: Buffer.from(JSON.stringify(i)) })))
    for (const i of items) this.#remember(i)
  }

  #remember(item: InboxItem): void {
    let items = this.#items.get(item.tenant)
    if (items === undefined) this.#items.set(item.tenant, (items = new Map()))
    items.set(item.id, item)
  }

  #forget(tenant: string, id: string): void {
    this.#items.get(tenant)?.delete(id)
  }
}
