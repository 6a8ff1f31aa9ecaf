// The live page in headless Chromium (Debian's chromium driven by playwright-core): the badge
// turns live, a log posted to the gateway appears, pause holds new rows back and resume lets them
// in, the alert a FATAL log raises shows in the alert strip, and an inbox item's delivery results
// show on its alert's line. A screenshot is kept in .local/test-artifacts/ for people to look at.
// With SLUICE_AUTH=true the page asks for an API key once, mints a stream token with it, keeps
// only the token, and shows its tenant's logs only.
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import { hashKey } from '@sluice/auth'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createKafka } from '@sluice/kafka'
import { createLogger } from '@sluice/observability'
import { loadConfig } from '@sluice/ws-fanout'
import { enrichedLog, enrichedWriter } from '../infra/enriched.js'
import { inboxItem } from '../infra/inbox.js'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

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

  it('with API keys: asks for a key once, keeps only the minted token, and shows its tenant alone', async () => {
    const keys = { keys: [{ id: 'acme-viewer', sha256: hashKey('acme-viewer-key'), tenants: ['acme', 'beta'], scopes: ['query'] }] }
    const iso = isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: JSON.stringify(keys), WS_AUTH_SECRET: 'a-test-secret-of-32-characters!!' })
    const rt = await startSluice(['ws-fanout'], iso)
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS })
    onTestFinished(() => browser.close())
    const page = await browser.newPage({ viewport: { width: 1200, height: 600 } })
    const refused: string[] = []
    page.on('response', (r) => r.status() === 401 && refused.push(`${r.request().method()} ${new URL(r.url()).pathname}`))
    await page.goto(rt.addresses['ws-fanout']!)

    // The server wants a token: the page asks for a key; a wrong one is answered in place.
    await page.locator('#login:not([hidden])').waitFor({ timeout: 15_000 })
    await page.fill('#key', 'not-a-key')
    await page.click('#login button')
    await page.locator('#login-error', { hasText: 'invalid API key' }).waitFor({ timeout: 5000 })
    await page.fill('#key', 'acme-viewer-key')
    await page.fill('#tenant', 'acme')
    await page.click('#login button')
    await page.locator('#badge.live').waitFor({ timeout: 15_000 })
    expect(await page.locator('#login').isHidden()).toBe(true)
    // Only the token is kept (for this tab); the key is gone from the form and from storage.
    const stored = await page.evaluate(() => {
      const w = globalThis as unknown as { sessionStorage: object; localStorage: object }
      return JSON.stringify([Object.entries(w.sessionStorage), Object.entries(w.localStorage)])
    })
    expect(stored).not.toContain('acme-viewer-key')
    expect(stored).toContain('sluice.stream-token')
    expect(await page.inputValue('#key')).toBe('')

    // The stage reads from the latest offsets once the page subscribed: send until a row shows.
    const w = await enrichedWriter(iso)
    await waitFor('a row on the page', async () => {
      await w.send([enrichedLog({ tenant: 'beta', id: `beta-${Date.now()}`, service: 'other-tenant' }), enrichedLog({ tenant: 'acme', id: `acme-${Date.now()}`, service: 'checkout' })])
      return (await page.locator('#rows tr').count()) > 0 ? true : undefined
    }, 30_000, 500)
    await page.waitForTimeout(500)
    const services = await page.locator('#rows tr td:nth-child(3)').allTextContents()
    expect(new Set(services)).toEqual(new Set(['checkout']))

    // A reload reconnects with the kept token, without asking again.
    await page.reload()
    await page.locator('#badge.live').waitFor({ timeout: 15_000 })
    expect(await page.locator('#login').isHidden()).toBe(true)
    // The wrong key's answer was the only 401 the page met (none of its own loads asked for a key).
    expect(refused).toEqual(['POST /v1/tokens'])
  })
})
