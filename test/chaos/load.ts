// Steady load through the gateways, as a shipper behind a load balancer sends it: NDJSON batches to
// the gateways in turn; a batch that is refused (any non-2xx, or no connection) is sent again, to
// the next gateway, after a short pause, as shippers retry. Every record has a stable id
// `<phase>:<seq>`, so a batch sent twice is absorbed downstream, and the ids acknowledged in each
// phase are what the suite later looks for in ClickHouse.

export interface PhaseStats {
  acked: Set<string>
  /** Refused attempts by status (`503`, `429`, `ECONNREFUSED`, `timeout`, …). */
  refused: Map<string, number>
  /** Longest time without any acknowledgement while the phase ran. */
  maxAckGapMs: number
}

export interface LoadOptions {
  /** The gateways' base URLs (read at every send: a restarted gateway may move port). */
  gateways: () => string[]
  recordsPerSecond: number
  batchSize: number
  /** Services the records spread over; their keys spread over the partitions. */
  services: number
  requestTimeoutMs?: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export class LoadGenerator {
  readonly #o: LoadOptions
  readonly phases = new Map<string, PhaseStats>()
  #phase = 'warmup'
  #seq = 0
  #next = 0
  #running = false
  #loops: Promise<void>[] = []
  #lastAckAt = Date.now()

  constructor(opts: LoadOptions) {
    this.#o = opts
    this.#stats(this.#phase)
  }

  get phase(): string {
    return this.#phase
  }

  /** Records sent from now on belong to `name`. */
  set phase(name: string) {
    this.#phase = name
    this.#stats(name)
    this.#lastAckAt = Date.now()
  }

  start(senders = 4): void {
    this.#running = true
    const perSender = this.#o.recordsPerSecond / senders
    const intervalMs = (this.#o.batchSize / perSender) * 1000
    for (let i = 0; i < senders; i++) this.#loops.push(this.#loop(intervalMs))
  }

  /** Stops sending; a batch being retried is given up (it was never acknowledged). */
  async stop(): Promise<void> {
    this.#running = false
    await Promise.all(this.#loops)
    this.#loops = []
  }

  #stats(name: string): PhaseStats {
    let s = this.phases.get(name)
    if (!s) {
      s = { acked: new Set(), refused: new Map(), maxAckGapMs: 0 }
      this.phases.set(name, s)
    }
    return s
  }

  async #loop(intervalMs: number): Promise<void> {
    let due = Date.now()
    while (this.#running) {
      const phase = this.#phase
      const ids: string[] = []
      const lines: string[] = []
      for (let i = 0; i < this.#o.batchSize; i++) {
        const seq = this.#seq++
        const id = `${phase}:${seq}`
        ids.push(id)
        lines.push(JSON.stringify({ id, timestamp: new Date().toISOString(), service: `chaos-${seq % this.#o.services}`, level: seq % 50 === 0 ? 'error' : 'info', message: `chaos record ${seq} of ${phase} user=u${seq % 97} took ${seq % 500} ms` }))
      }
      const body = lines.join('\n') + '\n'
      // The same batch until a gateway takes it (or the run stops).
      for (let attempt = 0; this.#running; attempt++) {
        const outcome = await this.#send(body)
        const stats = this.#stats(phase)
        const now = Date.now()
        if (outcome === 'ok') {
          stats.maxAckGapMs = Math.max(stats.maxAckGapMs, now - this.#lastAckAt)
          this.#lastAckAt = now
          for (const id of ids) stats.acked.add(id)
          break
        }
        stats.refused.set(outcome, (stats.refused.get(outcome) ?? 0) + 1)
        await sleep(Math.min(2000, 100 * 2 ** Math.min(attempt, 4)))
      }
      due += intervalMs
      const wait = due - Date.now()
      if (wait > 0) await sleep(wait)
      else due = Date.now()
    }
  }

  async #send(body: string): Promise<string> {
    const gateways = this.#o.gateways()
    if (gateways.length === 0) return 'no-gateway'
    const url = gateways[this.#next++ % gateways.length]!
    try {
      const res = await fetch(`${url}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body,
        signal: AbortSignal.timeout(this.#o.requestTimeoutMs ?? 30_000),
      })
      await res.arrayBuffer()
      return res.ok ? 'ok' : String(res.status)
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if ((err as Error).name === 'TimeoutError') return 'timeout'
      return cause?.code ?? 'network'
    }
  }
}
