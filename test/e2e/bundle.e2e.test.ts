// The production bundle `npm start` runs (dist/sluice.mjs from `npm run build`): it starts, the
// live page it serves comes from the assets the build ships beside it, and the enricher's
// transform threads start from the worker bundle beside it (dist/enricher-transform.mjs).
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { NODE_FLAGS } from '@sluice/runner'
import { isolation, startSluiceProcess } from '../infra/sluice.js'

describe('production bundle', () => {
  it('builds, runs gateway, enricher and ws-fanout from dist/sluice.mjs, enriches on its threads and serves the live page', async () => {
    execFileSync(process.execPath, ['.config/build.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' })
    const iso = isolation()
    // The gateway starts last: by then every target's address is known. V8 flags on the process
    // (the production ones among them) must not stop the transform threads from starting
    // (workers refuse such flags).
    const { child, url, urls } = await startSluiceProcess('gateway,enricher,ws-fanout', 'gateway', iso.env, { bundle: true, nodeArgs: ['--max-old-space-size=2048', ...NODE_FLAGS] })
    const posted = await fetch(`${url}/v1/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ service: 'bundle', level: 'error', message: 'connection refused by db-1' }) })
    expect(posted.status).toBe(200)
    // Counted on a transform thread, served on the enricher's /metrics.
    const deadline = Date.now() + 30_000
    let metrics = ''
    while (!/sluice_enricher_records_total\{category="network",classifier="rules"\} 1/.test(metrics) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200))
      metrics = await (await fetch(`${urls.enricher}/metrics`)).text()
    }
    expect(metrics).toMatch(/sluice_enricher_records_total\{category="network",classifier="rules"\} 1/)
    const page = urls['ws-fanout']!
    const html = await fetch(`${page}/`)
    expect(html.status).toBe(200)
    expect(await html.text()).toContain('id="badge"')
    const js = await fetch(`${page}/app.js`)
    expect(js.status).toBe(200)
    expect((await js.text()).length).toBeGreaterThan(1000)
    expect(child.exitCode).toBeNull()
  })
})
