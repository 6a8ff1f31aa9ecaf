// At-least-once with deduplication: the sink process is SIGKILLed mid-stream (no flush, no commit)
// and restarted on the same data; every accepted record is stored, none twice.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

function startSinkProcess(env: Record<string, string>): Promise<{ child: ChildProcess; queryUrl: string }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(REPO_ROOT, 'services/runner/src/main.ts'), 'run', '--target', 'clickhouse-sink,query-api'], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  return new Promise((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /query-api listening on (\S+)/.exec(out)
      if (m?.[1]) resolve({ child, queryUrl: m[1] })
    })
    child.on('exit', (code) => reject(new Error(`sink process exited with ${code}: ${stderr.slice(-2000)}`)))
  })
}

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

    const first = await startSinkProcess(iso.env)
    // Stream while the sink is consuming, then kill it without warning mid-stream.
    for (let n = 0; n < 15; n++) await postBatch()
    await waitFor('some rows stored', async () => ((await storedTotal(first.queryUrl)) > 0 ? true : undefined))
    for (let n = 0; n < 10; n++) await postBatch()
    first.child.kill('SIGKILL')
    await once(first.child, 'exit')
    // Records keep arriving while no sink runs.
    for (let n = 0; n < 15; n++) await postBatch()

    const second = await startSinkProcess(iso.env)
    const total = await waitFor('all accepted rows stored', async () => {
      const t = await storedTotal(second.queryUrl)
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
