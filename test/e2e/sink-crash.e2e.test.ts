// At-least-once with deduplication: the sink process is SIGKILLed mid-stream (no flush, no commit)
// and restarted on the same data; every accepted record is stored, none twice.
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { isolation, startSluice, startSluiceProcess, waitFor } from '../infra/sluice.js'

async function storedTotal(queryUrl: string): Promise<number> {
  const res = await fetch(`${queryUrl}/v1/stats`)
  return ((await res.json()) as { total: number }).total
}

describe('clickhouse-sink crash recovery', () => {
  it('loses nothing and stores no duplicates when killed mid-stream and restarted', async () => {
    const iso = isolation({ SINK_MAX_BATCH_RECORDS: '500', SINK_FLUSH_INTERVAL_MS: '300', LOG_LEVEL: 'warn' })
    const gateway = await startSluice(['gateway', 'enricher'], iso)
    const gw = gateway.addresses.gateway!

    let accepted = 0
    let seq = 0
    const postBatch = async () => {
      const lines = Array.from({ length: 200 }, () => JSON.stringify({ id: `crash-${seq}`, message: `event ${seq++}`, service: 'crashy' })).join('\n')
      const res = await fetch(`${gw}/v1/logs`, { method: 'POST', body: lines, headers: { 'content-type': 'application/x-ndjson' } })
      expect(res.status).toBe(200)
      accepted += ((await res.json()) as { accepted: number }).accepted
    }

    const first = await startSluiceProcess('clickhouse-sink,query-api', 'query-api', iso.env)
    // Stream while the sink is consuming, then kill it without warning mid-stream.
    for (let n = 0; n < 15; n++) await postBatch()
    await waitFor('some rows stored', async () => ((await storedTotal(first.url)) > 0 ? true : undefined))
    for (let n = 0; n < 10; n++) await postBatch()
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')
    // Records keep arriving while no sink runs.
    for (let n = 0; n < 15; n++) await postBatch()

    const second = await startSluiceProcess('clickhouse-sink,query-api', 'query-api', iso.env)
    const total = await waitFor('all accepted rows stored', async () => {
      const t = await storedTotal(second.url)
      return t >= accepted ? t : undefined
    })
    expect(accepted).toBe(40 * 200)
    // /v1/stats reads with FINAL: re-delivered copies of the killed batch collapse on `id`.
    expect(total).toBe(accepted)

    second.child.kill('SIGTERM')
    const [code] = (await once(second.child, 'exit')) as [number | null]
    expect(code).toBe(0)
  })
})
