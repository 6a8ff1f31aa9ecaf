// absence rule state: when each known (tenant, service) key was last heard from. Checked against a
// caller-supplied clock (processing time from a timer in the service), because a silent service
// produces no events that could advance event time. Pure: the clock is an argument.

export class AbsenceTracker {
  readonly #silentMs: number
  readonly #lastSeenMs = new Map<string, number>()
  readonly #absent = new Set<string>()

  constructor(silentMs: number) {
    this.#silentMs = silentMs
  }

  /** Records activity; returns true when the key had been reported absent (the alert can resolve). */
  seen(key: string, nowMs: number): boolean {
    this.#lastSeenMs.set(key, nowMs)
    return this.#absent.delete(key)
  }

  /** Keys that became silent for longer than silentMs since the last check; each is reported once per silence. */
  check(nowMs: number): string[] {
    const newlyAbsent: string[] = []
    for (const [key, last] of this.#lastSeenMs) {
      if (nowMs - last > this.#silentMs && !this.#absent.has(key)) {
        this.#absent.add(key)
        newlyAbsent.push(key)
      }
    }
    return newlyAbsent
  }

  get size(): number {
    return this.#lastSeenMs.size
  }

  snapshot(): { lastSeenMs: Record<string, number>; absent: string[] } {
    return { lastSeenMs: Object.fromEntries(this.#lastSeenMs), absent: [...this.#absent] }
  }

  /**
   * Restores after a restart at `nowMs`. The time the alerter itself was down is not silence of the
   * services: every known key gets a fresh grace period (at most one silentMs of extra delay).
   */
  restore(s: { lastSeenMs: Record<string, number>; absent: string[] }, nowMs: number): void {
    this.#lastSeenMs.clear()
    for (const [key, last] of Object.entries(s.lastSeenMs)) this.#lastSeenMs.set(key, Math.max(last, nowMs))
    this.#absent.clear()
    for (const key of s.absent) this.#absent.add(key)
  }
}
