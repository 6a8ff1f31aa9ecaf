// Alert lifecycle: one incident is one alert id (a stable fingerprint of rule, tenant, service
// and, for per-pattern rules, the pattern) with a rising version, never a stream of copies.
//
//   (none|resolved) --breach--> firing --ack--> acknowledged
//   firing|acknowledged --breach--> update (at most every updateIntervalMs)
//   firing|acknowledged --clear for resolveHoldMs--> resolved   (absence: resolved when heard again)
//   firing|acknowledged --resolve by a person--> resolved (resolved_by, resolve_reason)
//   resolved --breach within cooldownMs--> suppressed (flapping guard)
//
// Times are milliseconds: event time for every kind but absence (processing time). The book is
// pure and serialisable, so a restart restores it from the alerter's state changelog and replayed
// records reproduce the same ids and versions (absorbed downstream) instead of new alerts.
import { createHash } from 'node:crypto'
import type { Alert, AlertRuleKind, AlertSeverity } from '@sluice/core'

export interface RuleRef {
  id: string
  name: string
  kind: AlertRuleKind
  severity: AlertSeverity
  resolveHoldMs: number
  updateIntervalMs: number
  cooldownMs: number
}

export interface BreachInput {
  rule: RuleRef
  tenant: string
  service: string
  patternId: string | null
  value: number
  threshold: number
  windowStartMs: number
  windowEndMs: number
  /** Or how to write it: a level rule breaches on every matching record, and most of those
   * breaches change nothing (within the update interval), so its text is written only when used. */
  summary: string | (() => string)
  sampleLogIds: string[]
}

/** One alert state to produce; `notify` marks status changes (value updates are not notified). */
export interface Transition {
  alert: Alert
  notify: boolean
}

interface Tracked {
  alert: Alert
  /** Last time (ms) the condition held. */
  lastBreachMs: number
  lastUpdateMs: number
  resolvedAtMs: number | null
  holdMs: number
  cooldownMs: number
  /** Status changes, oldest first (at most HISTORY_SIZE): who acknowledged or resolved, and when. */
  history: HistoryEntry[]
  /** Version of the last status change (fire, ack, resolve): what notifiers must deliver. */
  notifiableVersion: number
  /** Highest version delivered to the notifiers (or given up on). */
  notifiedVersion: number
}

export interface HistoryEntry {
  /** Milliseconds (event time for automatic changes, processing time for a person's). */
  at: number
  action: 'fired' | 'acknowledged' | 'resolved'
  version: number
  /** Who acted; null when the alerter did (a breach, a clear condition). */
  by: string | null
  reason: string | null
}

const HISTORY_SIZE = 50

/** The book as JSON: bigints as decimal strings. */
export type AlertBookSnapshot = Array<Omit<Tracked, 'alert' | 'history'> & { alert: Record<string, unknown>; history?: HistoryEntry[] }>

const NS_PER_MS = 1_000_000n
const ns = (ms: number): bigint => BigInt(Math.trunc(ms)) * NS_PER_MS
const BIGINT_FIELDS = ['window_start', 'window_end', 'started_at', 'updated_at', 'resolved_at'] as const

export function fingerprint(ruleId: string, tenant: string, service: string, patternId: string | null): string {
  return createHash('sha256').update(`${ruleId}\u0000${tenant}\u0000${service}\u0000${patternId ?? ''}`).digest('hex').slice(0, 16)
}

const summaryOf = (b: BreachInput) => (typeof b.summary === 'string' ? b.summary : b.summary())

/** Fingerprints kept by their inputs: a level rule breaches on every matching record (sha256 each). */
const FINGERPRINTS_KEPT = 10_000

export class AlertBook {
  readonly #alerts = new Map<string, Tracked>()
  readonly #ids = new Map<string, string>()
  #suppressed = 0

  /** Records that the condition holds; returns the alert state to produce, or null when nothing changed enough. */
  breach(b: BreachInput, atMs: number): Transition | null {
    const id = this.idOf(b.rule.id, b.tenant, b.service, b.patternId)
    const t = this.#alerts.get(id)
    if (t !== undefined && t.alert.status !== 'resolved') {
      if (atMs > t.lastBreachMs) t.lastBreachMs = atMs
      if (atMs - t.lastUpdateMs < b.rule.updateIntervalMs) return null
      t.lastUpdateMs = atMs
      t.alert = {
        ...t.alert,
        value: b.value,
        threshold: b.threshold,
        window_start: ns(b.windowStartMs),
        window_end: ns(b.windowEndMs),
        updated_at: ns(atMs),
        summary: summaryOf(b),
        sample_log_ids: b.sampleLogIds,
        version: t.alert.version + 1,
      }
      return { alert: t.alert, notify: false }
    }
    if (t?.resolvedAtMs != null && atMs - t.resolvedAtMs < t.cooldownMs) {
      this.#suppressed++
      return null
    }
    const alert: Alert = {
      id,
      tenant: b.tenant,
      rule_id: b.rule.id,
      rule_name: b.rule.name,
      rule_kind: b.rule.kind,
      service: b.service,
      pattern_id: b.patternId,
      severity: b.rule.severity,
      status: 'firing',
      value: b.value,
      threshold: b.threshold,
      window_start: ns(b.windowStartMs),
      window_end: ns(b.windowEndMs),
      started_at: ns(atMs),
      updated_at: ns(atMs),
      resolved_at: null,
      acknowledged_by: null,
      resolved_by: null,
      resolve_reason: null,
      explanation: null,
      runbook: [],
      summary: summaryOf(b),
      sample_log_ids: b.sampleLogIds,
      version: (t?.alert.version ?? 0) + 1,
    }
    this.#alerts.set(id, {
      alert,
      lastBreachMs: atMs,
      lastUpdateMs: atMs,
      resolvedAtMs: null,
      holdMs: b.rule.resolveHoldMs,
      cooldownMs: b.rule.cooldownMs,
      history: remember(t?.history ?? [], { at: atMs, action: 'fired', version: alert.version, by: null, reason: null }),
      notifiableVersion: alert.version,
      notifiedVersion: t?.notifiedVersion ?? 0,
    })
    return { alert, notify: true }
  }

  /**
   * Resolves every open event-time alert whose condition has been clear for its hold period by
   * `watermarkMs`. The resolution time is exact: last breach + hold, not the moment it was noticed.
   */
  sweep(watermarkMs: number): Transition[] {
    const out: Transition[] = []
    for (const t of this.#alerts.values()) {
      if (t.alert.status === 'resolved' || t.alert.rule_kind === 'absence') continue
      const at = t.lastBreachMs + t.holdMs
      if (watermarkMs >= at) out.push(this.#resolve(t, at, t.alert.summary))
    }
    this.#evict(watermarkMs)
    return out
  }

  /** Resolves one alert now (absence: the service was heard again). */
  resolve(id: string, atMs: number, summary: string): Transition | null {
    const t = this.#alerts.get(id)
    if (t === undefined || t.alert.status === 'resolved') return null
    return this.#resolve(t, atMs, summary)
  }

  /** A person resolves an open alert; the condition, if it still holds, fires it again after the cooldown. */
  resolveBy(id: string, by: string, reason: string | null, atMs: number): Transition | null {
    const t = this.#alerts.get(id)
    if (t === undefined || t.alert.status === 'resolved') return null
    return this.#resolve(t, atMs, t.alert.summary, { by, reason })
  }

  /**
   * Attaches an explanation to an open alert (a value update: not notified by itself). Null when
   * the alert is resolved or belongs to another incident than `startedAt` by now.
   */
  explain(id: string, startedAt: bigint, explanation: string, runbook: string[], atMs: number): Transition | null {
    const t = this.#alerts.get(id)
    if (t === undefined || t.alert.status === 'resolved' || t.alert.started_at !== startedAt) return null
    t.alert = { ...t.alert, explanation, runbook, updated_at: ns(atMs), version: t.alert.version + 1 }
    return { alert: t.alert, notify: false }
  }

  /** The alert's status changes, oldest first. */
  history(id: string): HistoryEntry[] | undefined {
    return this.#alerts.get(id)?.history.map((h) => ({ ...h }))
  }

  acknowledge(id: string, by: string, atMs: number): Transition | null {
    const t = this.#alerts.get(id)
    if (t === undefined || t.alert.status !== 'firing') return null
    t.alert = { ...t.alert, status: 'acknowledged', acknowledged_by: by, updated_at: ns(atMs), version: t.alert.version + 1 }
    t.history = remember(t.history, { at: atMs, action: 'acknowledged', version: t.alert.version, by, reason: null })
    t.notifiableVersion = t.alert.version
    return { alert: t.alert, notify: true }
  }

  idOf(ruleId: string, tenant: string, service: string, patternId: string | null): string {
    const key = `${ruleId}\u0000${tenant}\u0000${service}\u0000${patternId ?? ''}`
    let id = this.#ids.get(key)
    if (id === undefined) {
      if (this.#ids.size >= FINGERPRINTS_KEPT) this.#ids.clear()
      this.#ids.set(key, (id = fingerprint(ruleId, tenant, service, patternId)))
    }
    return id
  }

  get(id: string): Alert | undefined {
    return this.#alerts.get(id)?.alert
  }

  all(): Alert[] {
    return [...this.#alerts.values()].map((t) => t.alert)
  }

  /** Open (firing or acknowledged) alerts. */
  open(): Alert[] {
    return [...this.#alerts.values()].filter((t) => t.alert.status !== 'resolved').map((t) => t.alert)
  }

  /** Alert states whose status change has not been delivered yet (after a restart: still to send). */
  undelivered(): Alert[] {
    return [...this.#alerts.values()].filter((t) => t.notifiedVersion < t.notifiableVersion).map((t) => t.alert)
  }

  markNotified(id: string, version: number): void {
    const t = this.#alerts.get(id)
    if (t !== undefined && version > t.notifiedVersion) t.notifiedVersion = version
  }

  get size(): number {
    return this.#alerts.size
  }

  /** Breaches ignored because their fingerprint was cooling down. */
  get suppressed(): number {
    return this.#suppressed
  }

  snapshot(): AlertBookSnapshot {
    return [...this.#alerts.values()].map((t) => {
      const alert: Record<string, unknown> = { ...t.alert }
      for (const f of BIGINT_FIELDS) alert[f] = t.alert[f] === null ? null : String(t.alert[f])
      return { ...t, alert }
    })
  }

  restore(s: AlertBookSnapshot): void {
    this.#alerts.clear()
    for (const t of s) {
      const alert = { ...t.alert } as Record<string, unknown>
      for (const f of BIGINT_FIELDS) alert[f] = alert[f] === null ? null : BigInt(alert[f] as string)
      // Checkpoints written before manual resolution and history existed lack their fields.
      alert.resolved_by ??= null
      alert.resolve_reason ??= null
      alert.explanation ??= null
      alert.runbook ??= []
      this.#alerts.set(alert.id as string, { ...t, history: t.history ?? [], alert: alert as unknown as Alert })
    }
  }

  #resolve(t: Tracked, atMs: number, summary: string, person?: { by: string; reason: string | null }): Transition {
    t.resolvedAtMs = atMs
    const by = person?.by ?? null
    const reason = person?.reason ?? null
    t.alert = { ...t.alert, status: 'resolved', resolved_at: ns(atMs), updated_at: ns(atMs), summary, resolved_by: by, resolve_reason: reason, version: t.alert.version + 1 }
    t.history = remember(t.history, { at: atMs, action: 'resolved', version: t.alert.version, by, reason })
    t.notifiableVersion = t.alert.version
    return { alert: t.alert, notify: true }
  }

  /**
   * A resolved new_pattern alert can never fire again (its pattern is known now), so once it is
   * delivered and out of cooldown it is dropped; other fingerprints are bounded by rules × services
   * and kept, so a later incident continues their version sequence.
   */
  #evict(nowMs: number): void {
    for (const [id, t] of this.#alerts) {
      if (t.alert.rule_kind === 'new_pattern' && t.resolvedAtMs !== null && t.notifiedVersion >= t.notifiableVersion && nowMs - t.resolvedAtMs >= t.cooldownMs) {
        this.#alerts.delete(id)
      }
    }
  }
}

function remember(history: HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  const out = [...history, entry]
  return out.length > HISTORY_SIZE ? out.slice(out.length - HISTORY_SIZE) : out
}
