// Several Sluice processes on one embedded ClickHouse: runtime 1 holds the engine (query-api,
// embedded) and serves ClickHouse's HTTP interface with a service password; two more runtimes run
// the sink (sharing its consumer group) and a query API in server mode, CLICKHOUSE_URL pointing at
// that interface. Records written to logs.enriched are stored once, through the interface, and read
// back alike through both query APIs.
import { describe, expect, it } from 'vitest'
import { enrichedLog, enrichedWriter } from '../infra/enriched.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'
import { freePort } from '../infra/ports.js'

const WAVE = 250
const SECRET = 'remote-sink-secret'

async function stats(queryApi: string): Promise<{ total: number; byService: Record<string, { total: number }> }> {
  const res = await fetch(`${queryApi}/v1/stats`)
  expect(res.status).toBe(200)
  return (await res.json()) as { total: number; byService: Record<string, { total: number }> }
}

describe('sinks and query APIs in other processes, through the ClickHouse HTTP interface', () => {
  it('stores every record once through the interface, readable from every query API', async () => {
    const port = await freePort()
    // Embedded whatever the environment says: runtime 1 is the ClickHouse of the others.
    const iso = isolation({ CLICKHOUSE_HTTP_PORT: String(port), CLICKHOUSE_HTTP_SERVICE_PASSWORD: SECRET, CLICKHOUSE_URL: '' })
    const owner = await startSluice(['query-api'], iso)
    const interfaceUrl = owner.addresses['clickhouse-http']!
    expect(interfaceUrl).toBe(`http://127.0.0.1:${port}`)

    const remote = { ...iso, env: { ...iso.env, CLICKHOUSE_URL: interfaceUrl, CLICKHOUSE_USER: 'sluice', CLICKHOUSE_PASSWORD: SECRET, CLICKHOUSE_HTTP_PORT: '0' } }
    // Two sinks in one consumer group, and a query API, none holding an engine.
    const sinkA = await startSluice(['clickhouse-sink', 'query-api'], remote)
    const sinkB = await startSluice(['clickhouse-sink'], remote)
    expect([sinkA.clickhouse?.mode, sinkB.clickhouse?.mode]).toEqual(['server', 'server'])

    const inserts = async (rt: typeof sinkA) => {
      const metrics = await rt.registry.getSingleMetricAsString('sluice_clickhouse_insert_seconds')
      return [...metrics.matchAll(/^sluice_clickhouse_insert_seconds_count\{table="logs"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
    }
    // Records go on arriving, in waves, until both sinks have written some: the second joins the
    // group (and takes partitions from the first) a rebalance after it starts.
    const writer = await enrichedWriter(iso)
    const services = ['checkout', 'search', 'billing', 'auth', 'mail']
    let sent = 0
    await waitFor('both sinks inserting', async () => {
      await writer.send(Array.from({ length: WAVE }, (_, k) => enrichedLog({ id: `remote-${sent + k}`, service: services[(sent + k) % services.length]!, message: `event ${sent + k}` })))
      sent += WAVE
      return (await inserts(sinkA)) > 0 && (await inserts(sinkB)) > 0 ? true : undefined
    }, 90_000, 500)

    const stored = await waitFor('every record stored', async () => {
      const s = await stats(owner.addresses['query-api']!)
      return s.total >= sent ? s : undefined
    })
    expect(stored.total).toBe(sent)
    for (const service of services) expect(stored.byService[service]?.total).toBe(sent / services.length)
    // The query API in server mode reads the same rows through the interface.
    expect((await stats(sinkA.addresses['query-api']!)).total).toBe(sent)

    // A record on the page of the owner's own query API carries the fields the sink wrote.
    const page = (await (await fetch(`${owner.addresses['query-api']}/v1/logs?service=checkout&limit=1`)).json()) as { logs: Array<{ service: string; message: string }> }
    expect(page.logs[0]).toMatchObject({ service: 'checkout', message: expect.stringMatching(/^event \d+$/) })
  })
})
