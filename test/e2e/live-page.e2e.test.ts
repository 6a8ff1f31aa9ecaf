// The live page in headless Chromium (Debian's chromium driven by playwright-core): the badge
// turns live, a log posted to the gateway appears, pause holds new rows back and resume lets them
// in, the alert a FATAL log raises shows in the alert strip, and an inbox item's delivery results
// show on its alert's line. A screenshot is kept in .local/test-artifacts/ for people to look at.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createKafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { loadConfig } from '@sluice/ws-fanout'
import { inboxItem } from '../infra/inbox.js'
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
    const iso = isolation({ ENRICHER_FLUSH_INTERVAL_MS: '20' })
    const rt = await startSluice(['gateway', 'enricher', 'alerter', 'ws-fanout'], iso)
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

    // An inbox item (the alerter's notification topic) shows on its alert's line with where it went.
    const producer = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'live-page-test', logger: createLogger({ level: 'warn' }) }).producer()
    await producer.connect()
    onTestFinished(() => producer.disconnect())
    const item = inboxItem({ tenant: 'default', id: 'page-alert:1', alert_id: 'page-alert', version: 1, rule_name: 'Disk almost full', service: 'db', summary: 'disk 97% full', channels: [{ name: 'email', result: 'delivered' }, { name: 'slack', result: 'failed' }] })
    await producer.send({ topic: loadConfig(iso.env).topicNotifications, messages: [{ key: 'default|page-alert:1', value: JSON.stringify(item) }] })
    const delivered = page.locator('#alerts div[data-alert-id="page-alert"].firing')
    await delivered.waitFor({ timeout: 15_000 })
    expect(await delivered.textContent()).toBe('⚠ FIRING Disk almost full · db: disk 97% full · email ✓ slack ✗')

    const dir = path.join(REPO_ROOT, '.local/test-artifacts')
    mkdirSync(dir, { recursive: true })
    await page.screenshot({ path: path.join(dir, 'live-page.png') })
  })
})
