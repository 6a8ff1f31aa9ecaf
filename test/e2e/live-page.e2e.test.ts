// The live page in headless Chromium (Debian's chromium driven by playwright-core): the badge
// turns live, a log posted to the gateway appears, pause holds new rows back and resume lets them
// in, and the alert a FATAL log raises shows in the alert strip. A screenshot is kept in .local/test-artifacts/ for people to look at.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation, startSluice } from '../infra/sluice.js'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// Without the background-networking flags Chromium keeps dialing out on a closed network.
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

async function post(gw: string, records: object[]) {
  const res = await fetch(`${gw}/v1/logs`, { method: 'POST', body: records.map((r) => JSON.stringify(r)).join('\n'), headers: { 'content-type': 'application/x-ndjson' } })
  expect(res.status).toBe(200)
}

describe('live page', () => {
  it('goes live, shows posted logs newest first and the alerts they raise, pauses and resumes', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'alerter', 'ws-fanout'], isolation({ ENRICHER_FLUSH_INTERVAL_MS: '20' }))
    const gw = rt.addresses.gateway!
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    onTestFinished(() => browser.close())
    const page = await browser.newPage({ viewport: { width: 1200, height: 600 } })
    await page.goto(rt.addresses['ws-fanout']!)

    await page.locator('#badge.live').waitFor({ timeout: 15_000 })
    await post(gw, [
      { id: 'p1', service: 'checkout', level: 'info', message: 'order 1 placed' },
      { id: 'p2', service: 'checkout', level: 'error', message: 'payment declined for order 2' },
    ])
    await page.locator('tr[data-id="p2"]').waitFor({ timeout: 15_000 })
    expect(await page.locator('tr[data-id="p2"]').getAttribute('class')).toContain('ERROR')
    expect(await page.locator('#rows tr').first().getAttribute('data-id')).toBe('p2')

    await page.click('#pause')
    await page.waitForTimeout(300)
    await post(gw, [{ id: 'p3', service: 'checkout', level: 'warn', message: 'slow response 1200 ms' }])
    await page.waitForTimeout(1500)
    expect(await page.locator('tr[data-id="p3"]').count()).toBe(0)
    await page.click('#pause')
    await page.locator('tr[data-id="p3"]').waitFor({ timeout: 15_000 })
    await page.locator('.rate').first().waitFor({ timeout: 5000 })

    // A FATAL raises an alert (default rules): it shows in the alert strip, one line per alert id.
    await post(gw, [{ id: 'p4', service: 'ledger', level: 'fatal', message: 'ledger corrupted at block 7' }])
    const fatal = page.locator('#alerts div.firing', { hasText: 'FATAL log · ledger' })
    await fatal.waitFor({ timeout: 15_000 })
    expect(await fatal.textContent()).toContain('ledger corrupted at block 7')

    const dir = path.join(REPO_ROOT, '.local/test-artifacts')
    mkdirSync(dir, { recursive: true })
    await page.screenshot({ path: path.join(dir, 'live-page.png') })
  })
})
