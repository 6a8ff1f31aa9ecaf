// The polling loop over an in-memory provider: windows from the checkpoint, pages, duplicates,
// late entries within the lookback, a restart from the checkpoint (and from before it), backoff
// on throttling and on bad credentials, and entries Sluice cannot take; what hostile providers do
// (hung calls, looping page tokens, Retry-After: 0, duplicate ids, records too big for Kafka).
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { LogEvent } from '@sluice/core'
import { createLogger } from '@sluice/observability'
import type { Connection } from './connections.js'
import { Limiter, MAX_PAGES_PER_POLL, Poller, entryId } from './poller.js'
import type { Checkpoint, PollerDeps, PollerMetrics } from './poller.js'
import { ProviderError } from './provider.js'
import type { FetchRequest, Page, ProviderClient, ProviderEvent, SkipReason, Skipped } from './provider.js'

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

/** Every page of `p` also lists `skipped` as left out by the provider, and holds `extra` (an entry outside any window). */
function leavingOut(p: ReturnType<typeof provider>, skipped: Skipped[], extra?: ProviderEvent): void {
  const inner = p.client.fetchPage.bind(p.client)
  p.client.fetchPage = async (req) => {
    const page = await inner(req)
    if (extra) page.events.push(extra)
    page.skipped = skipped
    return page
  }
}

/** Metrics that keep the invalid entries by reason and the error codes. */
function recording() {
  const invalid: Partial<Record<SkipReason, number>> = {}
  const errors: string[] = []
  const metrics: PollerMetrics = {
    records: () => undefined,
    poll: () => undefined,
    error: (code) => void errors.push(code),
    throttled: () => undefined,
    lag: () => undefined,
    invalid: (n, reason) => void (invalid[reason] = (invalid[reason] ?? 0) + n),
  }
  return { metrics, invalid, errors }
}

/** The wait the first poll's failure chose (its next_poll_at from the frozen clock at T0). */
async function waitAfter(failure: ProviderError): Promise<number> {
  const p = provider()
  p.failures.push(failure)
  const x = poller(p)
  await firstPoll(x)
  return Date.parse(x.saved.at(-1)!.status.next_poll_at!) - T0
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

  it("waits for a throttling provider's hint when longer than its own backoff, and the longest backoff after bad credentials", async () => {
    const p = provider()
    p.failures.push(new ProviderError('throttled', 'ThrottlingException', 'Rate exceeded', 200_000))
    const throttled = poller(p)
    await firstPoll(throttled)
    const s = throttled.saved.at(-1)!.status
    expect(s).toMatchObject({ state: 'throttled', last_error: { kind: 'throttled', code: 'ThrottlingException' } })
    expect(Date.parse(s.next_poll_at!) - T0).toBe(200_000)

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

describe('Poller against a hostile provider', () => {
  it('aborts a call that never answers after callTimeoutMs, even when a garbage collection runs meanwhile', async () => {
    // --expose-gc at run time (the test config passes no node flags): gc() from a fresh context.
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    let calls = 0
    const client: ProviderClient = {
      // As the SDKs do: the call ends only when its signal aborts; nothing here keeps the signal.
      fetchPage: ({ signal }) => {
        calls++
        return new Promise<Page>((_, reject) => {
          signal.addEventListener('abort', () => {
            const timeout = signal.reason instanceof Error && signal.reason.name === 'TimeoutError'
            reject(new ProviderError('unavailable', timeout ? 'TIMEOUT' : 'ABORTED', 'call aborted'))
          })
        })
      },
      test: async () => undefined,
      close: async () => undefined,
    }
    const x = poller({ client, visible: [], calls: [], failures: [] }, { options: { intervalMs: 60_000, lookbackMs: 5 * MIN, pageSize: 100, callTimeoutMs: 300, maxBackoffMs: 300_000 } })
    x.poll.start()
    await new Promise((r) => setTimeout(r, 50))
    gc()
    for (let i = 0; i < 300 && x.saved.length === 0; i++) await new Promise((r) => setTimeout(r, 10))
    expect(calls).toBe(1)
    expect(x.saved.at(-1)?.status).toMatchObject({ state: 'failing', last_error: { kind: 'unavailable', code: 'TIMEOUT' } })
  })

  it('frees the call slot after callTimeoutMs even when the call ignores its signal', async () => {
    const limiter = new Limiter(1)
    const client: ProviderClient = { fetchPage: () => new Promise<Page>(() => undefined), test: async () => undefined, close: async () => undefined }
    const x = poller({ client, visible: [], calls: [], failures: [] }, { limiter, options: { intervalMs: 60_000, lookbackMs: 5 * MIN, pageSize: 100, callTimeoutMs: 100, maxBackoffMs: 300_000 } })
    await firstPoll(x)
    expect(x.saved.at(-1)?.status.last_error).toMatchObject({ kind: 'unavailable' })
    expect(await limiter.run(async () => 'free')).toBe('free')
  })

  it('fails a poll whose page token comes back (the same, or after another) as PAGINATION_LOOP, and backs off', async () => {
    for (const tokens of [['SAME'], ['A', 'B']]) {
      const p = provider()
      let n = 0
      p.client.fetchPage = async (req) => {
        p.calls.push(req)
        return { events: [entry(`e${n}`, T0 - MIN)], nextPageToken: tokens[n++ % tokens.length] }
      }
      const m = recording()
      const x = poller(p, { metrics: m.metrics })
      await firstPoll(x)
      expect(p.calls.map((c) => c.pageToken)).toEqual([undefined, ...tokens])
      const s = x.saved.at(-1)!.status
      expect(s).toMatchObject({ state: 'failing', polls: 0, last_error: { kind: 'unavailable', code: 'PAGINATION_LOOP' } })
      expect(m.errors).toEqual(['PAGINATION_LOOP'])
      expect(Date.parse(s.next_poll_at!) - T0).toBeGreaterThanOrEqual(30_000)
    }
  })

  it('ends a poll after MAX_PAGES_PER_POLL pages of tokens that never end; without a new entry it is a PAGINATION_LOOP', async () => {
    const p = provider()
    p.client.fetchPage = async (req) => {
      p.calls.push(req)
      return { events: [], nextPageToken: `t${p.calls.length}` }
    }
    const x = poller(p)
    await firstPoll(x)
    expect(p.calls).toHaveLength(MAX_PAGES_PER_POLL)
    expect(x.saved.at(-1)!.status.last_error).toMatchObject({ code: 'PAGINATION_LOOP' })
  })

  it('never retries faster than its own backoff whatever the hint (Retry-After: 0, a past date), and never past the maximum', async () => {
    for (const hint of [0, -5000, Number.NaN]) {
      const wait = await waitAfter(new ProviderError('throttled', 'ThrottlingException', 'Rate exceeded', hint))
      expect(wait).toBeGreaterThanOrEqual(30_000)
      expect(wait).toBeLessThanOrEqual(60_000)
    }
    expect(await waitAfter(new ProviderError('throttled', '429', 'Too Many Requests', 1e12))).toBe(300_000)
  })

  it('produces an id repeated within one page once, counting the repeat', async () => {
    const p = provider(10)
    p.visible.push(entry('a', T0 - 3 * MIN, 'first'), entry('a', T0 - 2 * MIN, 'second'), entry('b', T0 - MIN))
    const m = recording()
    const x = poller(p, { metrics: m.metrics })
    await firstPoll(x)
    expect(x.produced.map((e) => e.message)).toEqual(['first', 'entry b'])
    expect(m.invalid).toEqual({ duplicate_id: 1 })
  })

  it('goes on with the rest of a page when a record is refused as too large, counts it and checkpoints the page', async () => {
    const p = provider(10)
    p.visible.push(entry('a', T0 - 3 * MIN), entry('big', T0 - 2 * MIN, 'B'.repeat(1000)), entry('c', T0 - MIN))
    const m = recording()
    const produced: LogEvent[] = []
    const x = poller(p, {
      metrics: m.metrics,
      produce: async (events) => {
        const refused = events.filter((e) => e.message.length > 100).map((e) => ({ id: e.id, bytes: 1100, limit: 1000 }))
        produced.push(...events.filter((e) => e.message.length <= 100))
        return refused
      },
    })
    await firstPoll(x)
    expect(produced.map((e) => e.message)).toEqual(['entry a', 'entry c'])
    expect(m.invalid).toEqual({ too_large: 1 })
    const last = x.saved.at(-1)!
    expect(last.status).toMatchObject({ state: 'running', polls: 1, records_pulled: 2 })
    expect(last.watermark_ms).toBe(T0 - MIN)
    expect(p.calls).toHaveLength(1)
  })

  it("counts the entries a provider left out and those outside the window by reason, logging one example per reason and poll", async () => {
    const p = provider(10)
    p.visible.push(entry('a', T0 - 3 * MIN))
    leavingOut(
      p,
      [
        { reason: 'bad_timestamp', providerId: 'x', detail: 'timestamp "1" is not epoch milliseconds' },
        { reason: 'bad_timestamp', providerId: 'y', detail: 'timestamp 0.5 is not epoch milliseconds' },
        { reason: 'unmappable', providerId: 'z', detail: 'e.message.replace is not a function' },
      ],
      entry('future', T0 + 365 * 86_400_000),
    )
    const m = recording()
    const warnings: unknown[] = []
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(JSON.parse(line)) } })
    const x = poller(p, { metrics: m.metrics, logger })
    await firstPoll(x)
    expect(x.produced.map((e) => e.message)).toEqual(['entry a'])
    expect(m.invalid).toEqual({ bad_timestamp: 2, unmappable: 1, outside_window: 1 })
    const examples = warnings.filter((w) => (w as { msg: string }).msg.startsWith('provider entry not taken'))
    expect(examples.map((w) => (w as { reason: string }).reason).sort()).toEqual(['bad_timestamp', 'outside_window', 'unmappable'])
  })

  it('counts an entry the provider left out once however often the lookback reads it again, after a restart too', async () => {
    const p = provider(10)
    p.visible.push(entry('a', T0 - 3 * MIN))
    leavingOut(p, [
      { reason: 'unmappable', providerId: 'z', detail: 'e.message.replace is not a function' },
      { reason: 'bad_timestamp', providerId: 'y', detail: 'timestamp "1" is not epoch milliseconds' },
      // A later window may take this one; and one without an id cannot be told from the next.
      { reason: 'outside_window', providerId: 'w', detail: 'timestamp 9e12 is outside the window' },
      { reason: 'unmappable', providerId: undefined, detail: 'a row without its id' },
    ])
    const m = recording()
    // The clock stands still: every poll reads the same window again.
    const options = { intervalMs: 1, lookbackMs: 5 * MIN, pageSize: 100, callTimeoutMs: 5000, maxBackoffMs: 300_000 }
    const first = poller(p, { metrics: m.metrics, options })
    await firstPoll(first, 3)
    await first.poll.stop()
    const polls = p.calls.length
    expect(polls).toBeGreaterThanOrEqual(3)
    expect(m.invalid).toEqual({ unmappable: 1 + polls, bad_timestamp: 1, outside_window: polls })
    expect(first.produced.map((e) => e.message)).toEqual(['entry a'])

    const again = poller(p, { metrics: m.metrics, options, checkpoint: first.saved.at(-1)! })
    await firstPoll(again)
    await again.poll.stop()
    const all = p.calls.length
    expect(m.invalid).toEqual({ unmappable: 1 + all, bad_timestamp: 1, outside_window: all })
    expect(again.produced).toEqual([])
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
