// The polling loop over an in-memory provider: windows from the checkpoint, pages, duplicates,
// late entries within the lookback, a restart from the checkpoint (and from before it), backoff
// on throttling and on bad credentials, and entries Sluice cannot take.
import { describe, expect, it, onTestFinished } from 'vitest'
import type { LogEvent } from '@sluice/core'
import { createLogger } from '@sluice/observability'
import type { Connection } from './connections.js'
import { Limiter, Poller, entryId } from './poller.js'
import type { Checkpoint, PollerDeps } from './poller.js'
import { ProviderError } from './provider.js'
import type { FetchRequest, Page, ProviderClient, ProviderEvent } from './provider.js'

const T0 = Date.UTC(2026, 11, 1, 12, 0, 0)
const MIN = 60_000

const connection: Connection = {
  id: 'c-1',
  tenant: 'acme',
  name: 'prod-logs',
  provider: 'aws-cloudwatch',
  settings: {},
  enabled: true,
  poll_interval_ms: null,
  lookback_ms: null,
  start_at: new Date(T0 - 60 * MIN).toISOString(),
  created_at: new Date(T0).toISOString(),
  updated_at: new Date(T0).toISOString(),
}

const entry = (id: string, timeMs: number, message = `entry ${id}`): ProviderEvent => ({
  providerId: id,
  timeMs,
  record: { timestamp: `${BigInt(timeMs) * 1_000_000n}`, service: 'checkout', message, attributes: { 'aws.log.stream': 's-1' } },
})

/** Entries visible to the provider, served in pages of `pageSize`; failures scripted per call. */
function provider(pageSize = 2) {
  const visible: ProviderEvent[] = []
  const calls: FetchRequest[] = []
  const failures: Array<ProviderError | undefined> = []
  const client: ProviderClient = {
    async fetchPage(req) {
      calls.push(req)
      const f = failures.shift()
      if (f) throw f
      const inWindow = visible.filter((e) => e.timeMs >= req.fromMs && e.timeMs < req.toMs).sort((a, b) => a.timeMs - b.timeMs)
      const start = Number(req.pageToken ?? 0)
      const page: Page = { events: inWindow.slice(start, start + pageSize) }
      if (start + pageSize < inWindow.length) page.nextPageToken = String(start + pageSize)
      return page
    },
    test: async () => undefined,
    close: async () => undefined,
  }
  return { client, visible, calls, failures }
}

function poller(p: ReturnType<typeof provider>, over: Partial<PollerDeps> & { nowMs?: () => number } = {}) {
  const produced: LogEvent[] = []
  const saved: Checkpoint[] = []
  let now = T0
  const d: PollerDeps = {
    connection,
    client: p.client,
    checkpoint: undefined,
    options: { intervalMs: 60_000, lookbackMs: 5 * MIN, pageSize: 100, callTimeoutMs: 5000, maxBackoffMs: 300_000 },
    limiter: new Limiter(2),
    produce: async (events) => void produced.push(...events),
    save: async (cp) => void saved.push(structuredClone(cp)),
    metrics: { records: () => undefined, poll: () => undefined, error: () => undefined, throttled: () => undefined, lag: () => undefined, invalid: () => undefined },
    logger: createLogger({ level: 'silent' }),
    instance: 'i-1',
    now: () => now,
    ...over,
  }
  const poll = new Poller(d)
  onTestFinished(() => poll.stop())
  return { poll, produced, saved, setNow: (ms: number) => (now = ms) }
}

/** Runs the first poll (the loop then sleeps for the interval) and waits for its status to be saved. */
async function firstPoll(x: ReturnType<typeof poller>, saves = 1): Promise<void> {
  x.poll.start()
  for (let i = 0; i < 200 && x.saved.filter((s) => s.status.next_poll_at !== null).length < saves; i++) await new Promise((r) => setTimeout(r, 5))
}

describe('Poller', () => {
  it('reads from the start, page by page, producing each entry once with a stable id, then checkpoints', async () => {
    const p = provider(2)
    p.visible.push(entry('a', T0 - 50 * MIN), entry('b', T0 - 40 * MIN), entry('c', T0 - 30 * MIN), entry('d', T0 - 20 * MIN), entry('e', T0 - 10 * MIN))
    // Before the connection's start: never taken.
    p.visible.push(entry('old', T0 - 90 * MIN))
    const x = poller(p)
    await firstPoll(x)
    expect(x.produced.map((e) => e.message)).toEqual(['entry a', 'entry b', 'entry c', 'entry d', 'entry e'])
    expect(x.produced[0]).toMatchObject({ id: entryId('c-1', 'a'), tenant: 'acme', source: 'connector', service: 'checkout', attributes: { 'aws.log.stream': 's-1' }, resource: { 'sluice.connection': 'prod-logs' } })
    expect(p.calls.map((c) => [c.fromMs, c.toMs, c.pageToken])).toEqual([
      [T0 - 60 * MIN, T0, undefined],
      [T0 - 60 * MIN, T0, '2'],
      [T0 - 60 * MIN, T0, '4'],
    ])
    const last = x.saved.at(-1)!
    expect(last.watermark_ms).toBe(T0 - 10 * MIN)
    expect(last.status).toMatchObject({ state: 'running', records_pulled: 5, polls: 1, lag_seconds: 600 })
    // Only ids within the lookback of the watermark are kept.
    expect(last.seen.map(([id]) => id)).toEqual(['e'])
  })

  it('picks up an entry that became visible late within the lookback, and skips what it took', async () => {
    const p = provider()
    p.visible.push(entry('a', T0 - 3 * MIN), entry('b', T0 - 1 * MIN))
    const first = poller(p)
    await firstPoll(first)
    await first.poll.stop()
    const cp = first.saved.at(-1)!
    // A restarted poller, a minute later: an entry stamped before the watermark shows up now.
    p.visible.push(entry('late', T0 - 2 * MIN), entry('new', T0 + 30_000))
    const second = poller(p, { checkpoint: cp })
    second.setNow(T0 + MIN)
    await firstPoll(second)
    expect(p.calls.at(-1)).toMatchObject({ fromMs: T0 - 1 * MIN - 5 * MIN, toMs: T0 + MIN })
    expect(second.produced.map((e) => e.message)).toEqual(['entry late', 'entry new'])
  })

  it('replays a page whose checkpoint was not written with the same ids, so the store keeps one copy', async () => {
    const p = provider()
    p.visible.push(entry('a', T0 - 3 * MIN), entry('b', T0 - 2 * MIN))
    const first = poller(p)
    await firstPoll(first)
    // The process died after producing but before any checkpoint: the next run starts from nothing.
    const again = poller(p)
    await firstPoll(again)
    expect(again.produced.map((e) => e.id)).toEqual(first.produced.map((e) => e.id))
  })

  it("waits for a throttling provider's hint, and the longest backoff after bad credentials", async () => {
    const p = provider()
    p.failures.push(new ProviderError('throttled', 'ThrottlingException', 'Rate exceeded', 7000))
    const throttled = poller(p)
    await firstPoll(throttled)
    const s = throttled.saved.at(-1)!.status
    expect(s).toMatchObject({ state: 'throttled', last_error: { kind: 'throttled', code: 'ThrottlingException' } })
    expect(Date.parse(s.next_poll_at!) - T0).toBe(7000)

    const q = provider()
    q.failures.push(new ProviderError('auth', 'UnrecognizedClientException', 'The security token included in the request is invalid.'))
    const denied = poller(q)
    await firstPoll(denied)
    const d = denied.saved.at(-1)!.status
    expect(d).toMatchObject({ state: 'failing', last_error: { kind: 'auth' } })
    expect(Date.parse(d.next_poll_at!) - T0).toBe(300_000)
  })

  it('backs off with jitter on outages: between half and all of the doubled interval', async () => {
    const p = provider()
    p.failures.push(new ProviderError('unavailable', '503', 'Service Unavailable'))
    const x = poller(p)
    await firstPoll(x)
    const wait = Date.parse(x.saved.at(-1)!.status.next_poll_at!) - T0
    expect(wait).toBeGreaterThanOrEqual(30_000)
    expect(wait).toBeLessThanOrEqual(60_000)
  })

  it('skips an entry Sluice cannot take and produces the rest', async () => {
    const p = provider()
    const bad = entry('bad', T0 - 2 * MIN)
    bad.record = { ...bad.record, timestamp: 'not a time' }
    p.visible.push(entry('a', T0 - 3 * MIN), bad, entry('b', T0 - MIN))
    let invalid = 0
    const x = poller(p, { metrics: { records: () => undefined, poll: () => undefined, error: () => undefined, throttled: () => undefined, lag: () => undefined, invalid: (n) => (invalid += n) } })
    await firstPoll(x)
    expect(x.produced.map((e) => e.message)).toEqual(['entry a', 'entry b'])
    expect(invalid).toBe(1)
  })
})

describe('Limiter', () => {
  it('runs at most n calls at once, the rest in order', async () => {
    const limiter = new Limiter(2)
    let running = 0
    let peak = 0
    const order: number[] = []
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        limiter.run(async () => {
          running++
          peak = Math.max(peak, running)
          await new Promise((r) => setTimeout(r, 5))
          order.push(i)
          running--
        }),
      ),
    )
    expect(peak).toBe(2)
    expect(order.slice(0, 2).sort()).toEqual([0, 1])
  })
})
