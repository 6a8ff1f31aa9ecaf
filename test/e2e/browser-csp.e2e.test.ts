// The Content-Security-Policies in a real browser (Debian's chromium driven by playwright-core):
// the live page runs under its strict policy — inline style allowed by hash, script from a file,
// its WebSocket to the same origin — and goes live; Swagger UI renders the service's operations
// under its own. Chromium reports every blocked load or inline block on the console: none may be.
// And the request and idle timeouts against slow clients leave the page's WebSocket alone.
import { chromium } from 'playwright-core'
import type { Page } from 'playwright-core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { isolation, startSluice } from '../infra/sluice.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** The page's CSP violations as Chromium reports them (console errors and securitypolicyviolation events). */
async function violations(page: Page): Promise<() => Promise<string[]>> {
  const seen: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) seen.push(m.text())
  })
  // Page-side code as text: this file is compiled without the DOM's types.
  await page.addInitScript({ content: "window.__csp = []; document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))" })
  return async () => [...seen, ...((await page.evaluate('window.__csp')) as string[])]
}

describe('Content-Security-Policy in the browser', () => {
  it('lets the live page and Swagger UI work with nothing blocked', async () => {
    const rt = await startSluice(['ws-fanout'], isolation())
    const base = rt.addresses['ws-fanout']!
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    onTestFinished(() => browser.close())

    const live = await browser.newPage()
    const liveViolations = await violations(live)
    const res = await live.goto(base)
    expect(res!.headers()['content-security-policy']).toMatch(/style-src 'self' 'sha256-[A-Za-z0-9+/=]+'/)
    await live.locator('#badge.live').waitFor({ timeout: 15_000 })
    // The hashed inline stylesheet applied: the header is laid out as a flex row.
    expect(await live.evaluate("getComputedStyle(document.querySelector('header')).display")).toBe('flex')
    expect(await liveViolations()).toEqual([])

    const docs = await browser.newPage()
    const docsViolations = await violations(docs)
    await docs.goto(`${base}/docs/`)
    await docs.locator('.opblock').first().waitFor({ timeout: 15_000 })
    expect(await docs.locator('.opblock').count()).toBeGreaterThan(2)
    expect(await docsViolations()).toEqual([])
  })

  it('keeps the live stream open far past the request and idle timeouts', async () => {
    const rt = await startSluice(['ws-fanout'], isolation({ SLUICE_HTTP_REQUEST_TIMEOUT_MS: '300', SLUICE_HTTP_IDLE_TIMEOUT_MS: '300' }))
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    onTestFinished(() => browser.close())
    const page = await browser.newPage()
    let opened = 0
    let closed = 0
    page.on('websocket', (ws) => {
      opened++
      ws.on('close', () => closed++)
    })
    await page.goto(rt.addresses['ws-fanout']!)
    await page.locator('#badge.live').waitFor({ timeout: 15_000 })
    // Many request deadlines (checked every 75 ms here) pass while the stream is quiet.
    await page.waitForTimeout(2500)
    expect({ opened, closed }).toEqual({ opened: 1, closed: 0 })
    expect(await page.locator('#badge.live').count()).toBe(1)
  })
})
