// Searching line text over the body's text index (migration 0014, loki/sql.ts bodyContains): the
// answers are substring matches, exactly, and a rare term reads a small part of the column.
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { listenQueryApi, openTestStore } from './test-store.js'
import type { TestStore } from './test-store.js'

const DATABASE = 'body_search'
const ROWS = 400_000
const TENANT = 'acme'
const END_MS = Math.floor(Date.now() / 60_000) * 60_000
const START_MS = END_MS - 3_600_000

// Lines holding the term, and lines holding its pieces without it. Substring semantics: inside a
// longer token counts, the pieces apart do not.
// `ſ` (long s) is a letter RE2's (?i) matches with s, and ILIKE does not.
const SPECIAL = [
  'job quarantine-zk7q started', 'moved to xquarantine-zk7qy', 'quarantine-zk7q', 'user=alice action=login ok', 'warning: Quarantine-ZK7Q in capitals',
  'quarantine zk7q', 'quarantine-zk7 and zk7q', 'zk7q-quarantine', 'user=alice action=logout', 'entering ſafe mode', 'entering safe-mode',
  // Searched once each, by the reads test only: ClickHouse's query condition cache remembers which
  // granules a filter already ruled out, so a term searched before would read little anyway.
  'lockdown-qq42 applied', 'rollback-vv81 done', 'ticket Escalated-WX93',
]
const having = (test: (line: string) => boolean) => SPECIAL.filter(test).sort()

let store: TestStore
let ch: ClickHouseHandle
let app: FastifyInstance
let baseUrl: string

beforeAll(async () => {
  store = await openTestStore('body-search', DATABASE)
  ch = store.ch
  // Ordinary lines, one every 9 ms across the hour, in several services and parts.
  for (let part = 0; part < 4; part++) {
    await ch.client.command({
      query: `INSERT INTO ${DATABASE}.logs (id, tenant, Timestamp, ServiceName, SeverityText, Body)
        SELECT toString(number), '${TENANT}', fromUnixTimestamp64Milli(toInt64(${START_MS} + number * 9)), ['api', 'db', 'web'][number % 3 + 1], 'INFO',
               concat('request ', toString(number), ' user=u', toString(number % 977), ' took ', toString(number % 1000), 'ms path=/api/items/', hex(number))
        FROM numbers(${(part * ROWS) / 4}, ${ROWS / 4})`,
    })
  }
  const special = SPECIAL.map((Body, i) => ({
    id: `special-${i}`,
    tenant: TENANT,
    Timestamp: `${START_MS + 1_000 + Math.floor((i * 3_500_000) / SPECIAL.length)}000000`,
    ServiceName: 'api',
    SeverityText: 'WARN',
    Body,
  }))
  await ch.client.insert({ table: `${DATABASE}.logs`, values: special, format: 'JSONEachRow', clickhouse_settings: { date_time_input_format: 'best_effort' } })
  // The hour holds 400 000 rows: a line filter over fewer than QUERY_TEXT_SCAN_MIN_ROWS (1 M by
  // default) reads them without the index's dictionary scan (loki/text-scan.int.test.ts); a
  // lower threshold puts the index to work here.
  const api = await listenQueryApi(ch, DATABASE, { QUERY_TEXT_SCAN_MIN_ROWS: '100000' })
  app = api.app
  baseUrl = api.baseUrl
}, 120_000)

afterAll(async () => {
  await app?.close()
  await store?.close()
})

/** Rows ClickHouse selected while `fn` ran (nothing else queries it meanwhile). */
async function rowsRead(fn: () => Promise<unknown>): Promise<number> {
  const selected = async () => {
    const rs = await ch.client.query({ query: "SELECT value FROM system.events WHERE event = 'SelectedRows'", format: 'JSONEachRow' })
    return Number((await rs.json<{ value: string }>())[0]?.value ?? 0)
  }
  const before = await selected()
  await fn()
  return (await selected()) - before
}

async function lokiLines(filter: string, op = '|='): Promise<string[]> {
  const params = new URLSearchParams({ query: `{service_name=~".+"} ${op} ${JSON.stringify(filter)}`, start: `${START_MS}000000`, end: `${END_MS}000000`, limit: '1000' })
  const res = await fetch(`${baseUrl}/loki/api/v1/query_range?${params}`, { headers: { 'X-Scope-OrgID': TENANT } })
  expect(res.status, await res.clone().text()).toBe(200)
  const body = (await res.json()) as { data: { result: { values: [string, string][] }[] } }
  return body.data.result.flatMap((s) => s.values.map((v) => v[1])).sort()
}

async function v1Lines(q: string): Promise<string[]> {
  const params = new URLSearchParams({ q, from: new Date(START_MS).toISOString(), to: new Date(END_MS).toISOString(), limit: '1000' })
  const res = await fetch(`${baseUrl}/v1/logs?${params}`, { headers: { 'x-sluice-tenant': TENANT } })
  expect(res.status, await res.clone().text()).toBe(200)
  return ((await res.json()) as { logs: { message: string }[] }).logs.map((l) => l.message).sort()
}

describe('line search over the text index', () => {
  it('answers a term across separators with exactly the lines holding it', async () => {
    const expected = having((l) => l.includes('quarantine-zk7q'))
    expect(expected).toHaveLength(3)
    expect(await lokiLines('quarantine-zk7q')).toEqual(expected)
    expect(await v1Lines('quarantine-zk7q')).toEqual(expected)
    // Pieces in the middle are whole tokens: `action=login` must not match `action=logout`.
    expect(await lokiLines('user=alice action=login')).toEqual(['user=alice action=login ok'])
    // A term of one token, found inside longer ones (substring, as Loki's |= is).
    expect(await lokiLines('uarantine')).toEqual(having((l) => l.includes('uarantine')))
  })

  it('answers a regular expression that is plain text, case-sensitive or (?i), exactly', async () => {
    expect(await lokiLines('quarantine\\-zk7q', '|~')).toEqual(having((l) => l.includes('quarantine-zk7q')))
    const insensitive = having((l) => l.toLowerCase().includes('quarantine-zk7q'))
    expect(insensitive).toHaveLength(4)
    expect(await lokiLines('(?i)QUARANTINE-zk7q', '|~')).toEqual(insensitive)
    expect(await lokiLines('(?i)QUARANTINE-zk7q', '!~')).not.toContain(SPECIAL[4])
    // RE2 folds the long s with s: the narrowing must not lose that line.
    expect(await lokiLines('(?i)SAFE MODE', '|~')).toEqual(['entering ſafe mode'])
  })

  it('reads a small part of the column for a rare term', async () => {
    const total = ROWS + SPECIAL.length
    for (const [what, read] of [
      ['|=', () => lokiLines('lockdown-qq42')],
      ['/v1/logs q', () => v1Lines('rollback-vv81')],
      ['|~ (?i)', () => lokiLines('(?i)ESCALATED-wx93', '|~')],
    ] as const) {
      const rows = await rowsRead(read)
      expect(rows, what).toBeGreaterThan(0)
      expect(rows, what).toBeLessThan(total / 10)
    }
  })
})
