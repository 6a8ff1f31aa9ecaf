// The production bundle `npm start` runs (dist/sluice.mjs from `npm run build`): it starts, and
// the live page it serves comes from the assets the build ships beside it.
import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation, startSluiceProcess } from '../infra/sluice.js'

describe('production bundle', () => {
  it('builds, runs ws-fanout from dist/sluice.mjs and serves the live page', async () => {
    execFileSync(process.execPath, ['.config/build.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' })
    const iso = isolation()
    const { child, url } = await startSluiceProcess('ws-fanout', 'ws-fanout', iso.env, { bundle: true })
    const html = await fetch(`${url}/`)
    expect(html.status).toBe(200)
    expect(await html.text()).toContain('id="badge"')
    const js = await fetch(`${url}/app.js`)
    expect(js.status).toBe(200)
    expect((await js.text()).length).toBeGreaterThan(1000)
    expect(child.exitCode).toBeNull()
  })
})
