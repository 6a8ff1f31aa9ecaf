// The production bundle `npm start` runs (dist/sluice.mjs from `npm run build`): it starts, and
// the live page it serves comes from the assets the build ships beside it.
import { execFileSync, spawn } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it, onTestFinished } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation } from '../infra/sluice.js'

describe('production bundle', () => {
  it('builds, runs ws-fanout from dist/sluice.mjs and serves the live page', async () => {
    execFileSync(process.execPath, ['.config/build.mjs'], { cwd: REPO_ROOT, stdio: 'ignore' })
    const iso = isolation()
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist/sluice.mjs'), 'run', '--target', 'ws-fanout'], { cwd: REPO_ROOT, env: { ...process.env, ...iso.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    onTestFinished(() => {
      child.kill('SIGKILL')
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        const m = /ws-fanout listening on (\S+)/.exec(out)
        if (m?.[1]) resolve(m[1])
      })
      child.on('exit', (code) => reject(new Error(`bundle exited with ${code}: ${stderr.slice(-2000)}`)))
    })
    const html = await fetch(`${url}/`)
    expect(html.status).toBe(200)
    expect(await html.text()).toContain('id="badge"')
    const js = await fetch(`${url}/app.js`)
    expect(js.status).toBe(200)
    expect((await js.text()).length).toBeGreaterThan(1000)
    expect(child.exitCode).toBeNull()
  })
})
