// How long consumers stall: the committed offsets of each consumer group, sampled every few
// hundred milliseconds. Under steady load every partition's committed offset keeps moving; after a
// fault, a partition resumes when its offset moves again. The time until the last partition of a
// group moves again is the group's stall (a SIGKILLed member's partitions wait for the session
// timeout and the rebalance; those of the survivors keep moving).
import type { Admin, Kafka } from 'kafkajs'

export interface GroupWatch {
  group: string
  topic: string
}

interface Sample {
  at: number
  offsets: Map<number, bigint>
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class GroupMonitor {
  readonly #watches: GroupWatch[]
  readonly #kafka: Kafka
  readonly #samples = new Map<string, Sample[]>()
  #admin: Admin | undefined
  #running = false
  #loop: Promise<void> = Promise.resolve()

  constructor(kafka: Kafka, watches: GroupWatch[]) {
    this.#kafka = kafka
    this.#watches = watches
    for (const w of watches) this.#samples.set(w.group, [])
  }

  start(everyMs = 250): void {
    this.#running = true
    this.#loop = (async () => {
      while (this.#running) {
        await this.#sample().catch(() => undefined)
        await sleep(everyMs)
      }
    })()
  }

  async stop(): Promise<void> {
    this.#running = false
    await this.#loop
    await this.#admin?.disconnect().catch(() => undefined)
  }

  async #sample(): Promise<void> {
    if (!this.#admin) {
      const admin = this.#kafka.admin({ retry: { retries: 0 } })
      await admin.connect()
      this.#admin = admin
    }
    await Promise.all(
      this.#watches.map(async (w) => {
        const at = Date.now()
        try {
          const [entry] = await this.#admin!.fetchOffsets({ groupId: w.group, topics: [w.topic] })
          this.record(w.group, at, new Map((entry?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)])))
        } catch {
          // Coordinator moving or down: no sample; the gap shows as a stall.
        }
      }),
    )
  }

  /** One sample of a group's committed offsets by partition (the sampler's, or a test's). */
  record(group: string, at: number, offsets: Map<number, bigint>): void {
    this.#samples.get(group)?.push({ at, offsets })
  }

  /**
   * The longest time, within [fromMs, toMs], that a partition of the group went without its
   * committed offset moving (clipped to the window: a partition idle since before `fromMs` counts
   * from `fromMs`); undefined when some partition that moved before has not moved again by the
   * last sample. Under steady load a healthy partition commits every flush, so this is how long
   * the fault held the group's slowest partition up.
   */
  stall(group: string, fromMs: number, toMs: number): number | undefined {
    const samples = (this.#samples.get(group) ?? []).filter((s) => s.at >= fromMs - 5000)
    const changes = new Map<number, number[]>()
    const last = new Map<number, bigint>()
    for (const s of samples) {
      for (const [partition, offset] of s.offsets) {
        const prev = last.get(partition)
        if (prev !== undefined && offset !== prev) {
          const list = changes.get(partition) ?? []
          list.push(s.at)
          changes.set(partition, list)
        }
        last.set(partition, offset)
      }
    }
    const end = samples.length > 0 ? samples[samples.length - 1]!.at : fromMs
    let worst = 0
    for (const list of changes.values()) {
      const after = list.filter((at) => at > fromMs)
      // Moved before the fault and never since: it has not resumed.
      if (after.length === 0) return undefined
      let prev = fromMs
      for (const at of after) {
        worst = Math.max(worst, at - prev)
        prev = at
        if (at >= toMs) break
      }
      // Still waiting for its next move inside the window: at least this long.
      if (prev < toMs) worst = Math.max(worst, Math.min(end, toMs) - prev)
    }
    return worst
  }
}
