// Who gets which record: the fan-out's index and filters with fake subscribers (the WebSocket side
// is covered by the live e2e tests). One frame per record, shared by everyone who wants it.
import { describe, expect, it } from 'vitest'
import type { Alert } from '@sluice/core'
import { alertFixture } from '../../../test/infra/alerts.js'
import { enrichedLog } from '../../../test/infra/enriched.js'
import { inboxItem } from '../../../test/infra/inbox.js'
import { framePayload } from './client.js'
import { Fanout } from './fanout.js'
import type { Subscriber } from './fanout.js'
import { decodeInboxChange } from './notifications.js'
import { compileFilters } from './protocol.js'
import type { Channel, Filters } from './protocol.js'

/** A subscriber as StreamClient would be for these channels, filters and tenant. */
function fake(channels: Channel[], filters?: Filters, tenant?: string): Subscriber & { got: unknown[] } {
  const match = compileFilters(filters)
  const got: unknown[] = []
  return {
    got,
    tenant,
    channels: new Set(channels),
    services: filters?.services,
    minSeverity: filters?.minLevel ? { TRACE: 1, DEBUG: 5, INFO: 9, WARN: 13, ERROR: 17, FATAL: 21 }[filters.minLevel] : 0,
    wantsLog: (e) => channels.includes('logs') && (tenant === undefined || tenant === e.tenant) && match(e),
    wantsAlert: (a: Pick<Alert, 'tenant'>) => channels.includes('alerts') && (tenant === undefined || tenant === a.tenant),
    offer: (frame) => void got.push(JSON.parse(String(framePayload(frame)))),
  }
}

const deliver = (f: Fanout, d: ReturnType<Fanout['log']>) => d?.to.forEach((s) => s.offer(d.frame))

describe('fan-out', () => {
  it('sends a log to the subscribers whose filters and tenant it matches, one shared frame', () => {
    const f = new Fanout()
    const all = fake(['logs'])
    const checkout = fake(['logs'], { services: ['checkout'] })
    const errorsOnly = fake(['logs'], { minLevel: 'ERROR' })
    const otherTenant = fake(['logs'], undefined, 'globex')
    const alertsOnly = fake(['alerts'])
    for (const s of [all, checkout, errorsOnly, otherTenant, alertsOnly]) f.add(s)

    const info = f.log(enrichedLog({ service: 'checkout', message: 'paid' }))!
    expect(info.to).toEqual([checkout, all])
    deliver(f, info)
    expect(checkout.got).toMatchObject([{ type: 'log', data: { service: 'checkout', message: 'paid', timestamp: expect.stringMatching(/Z$/) } }])
    const error = f.log(enrichedLog({ service: 'cart', severity_text: 'ERROR', severity_number: 17, is_error: true }))!
    expect(error.to).toEqual([all, errorsOnly])
    // An INFO log is not even matched against the errors-only client.
    let asked = 0
    const counting = { ...errorsOnly, wantsLog: (e: Parameters<Subscriber['wantsLog']>[0]) => (asked++, errorsOnly.wantsLog(e)) }
    f.add(counting)
    f.log(enrichedLog({ service: 'cart' }))
    expect(asked).toBe(0)
    f.remove(counting)
    expect(f.log(enrichedLog({ tenant: 'initech', service: 'cart' }))!.to).toEqual([all])
  })

  it('builds no frame when nobody wants the record, and keeps its index right as subscriptions change', () => {
    const f = new Fanout()
    const s = fake(['logs'], { services: ['search'] })
    f.add(s)
    expect(f.log(enrichedLog({ service: 'checkout' }))).toBeUndefined()
    f.update(s, () => {
      ;(s as { services: readonly string[] | undefined }).services = ['checkout']
      ;(s as { wantsLog: Subscriber['wantsLog'] }).wantsLog = (e) => e.service === 'checkout'
    })
    expect(f.log(enrichedLog({ service: 'checkout' }))?.to).toEqual([s])
    f.remove(s)
    expect(f.log(enrichedLog({ service: 'checkout' }))).toBeUndefined()
    expect(f.size).toBe(0)
  })

  it('sends alerts to alert subscribers of the tenant, and per-service rates to stats subscribers', () => {
    const f = new Fanout()
    const alerts = fake(['alerts'])
    const acmeAlerts = fake(['alerts'], undefined, 'acme')
    const stats = fake(['stats'])
    for (const s of [alerts, acmeAlerts, stats]) f.add(s)
    expect(f.alert(alertFixture({ tenant: 'acme' }))!.to).toEqual([alerts, acmeAlerts])
    expect(f.alert(alertFixture({ tenant: 'globex' }))!.to).toEqual([alerts])

    for (let i = 0; i < 4; i++) f.log(enrichedLog({ service: 'checkout', is_error: i === 0 }))
    f.log(enrichedLog({ service: 'cart' }))
    for (const d of f.stats(2000)) d.to.forEach((s) => s.offer(d.frame))
    expect(stats.got).toEqual([
      { type: 'stats', data: { service: 'checkout', ratePerS: 2, errorRatePerS: 0.5 } },
      { type: 'stats', data: { service: 'cart', ratePerS: 0.5, errorRatePerS: 0 } },
    ])
    // Counts start over after each interval.
    expect(f.stats(2000)).toEqual([])
  })

  it("gives a tenant's stats subscribers that tenant's service rates only; every-tenant subscribers the sums", () => {
    const f = new Fanout()
    const acme = fake(['stats'], undefined, 'acme')
    const globex = fake(['stats'], undefined, 'globex')
    const everyone = fake(['stats'])
    for (const s of [acme, globex, everyone]) f.add(s)
    f.log(enrichedLog({ tenant: 'acme', service: 'checkout' }))
    f.log(enrichedLog({ tenant: 'globex', service: 'checkout', is_error: true }))
    f.log(enrichedLog({ tenant: 'globex', service: 'secret-project' }))
    for (const d of f.stats(1000)) d.to.forEach((s) => s.offer(d.frame))
    expect(acme.got).toEqual([{ type: 'stats', data: { service: 'checkout', ratePerS: 1, errorRatePerS: 0 } }])
    expect(globex.got).toEqual([
      { type: 'stats', data: { service: 'checkout', ratePerS: 1, errorRatePerS: 1 } },
      { type: 'stats', data: { service: 'secret-project', ratePerS: 1, errorRatePerS: 0 } },
    ])
    expect(everyone.got).toEqual([
      { type: 'stats', data: { service: 'checkout', ratePerS: 2, errorRatePerS: 1 } },
      { type: 'stats', data: { service: 'secret-project', ratePerS: 1, errorRatePerS: 0 } },
    ])
  })

  it('sends inbox items as stored and deletions to alert subscribers of the tenant, one shared frame', () => {
    const f = new Fanout()
    const all = fake(['alerts'])
    const acme = fake(['alerts'], undefined, 'acme')
    const globex = fake(['alerts'], undefined, 'globex')
    const logsOnly = fake(['logs', 'stats'])
    for (const s of [all, acme, globex, logsOnly]) f.add(s)

    const item = inboxItem({ tenant: 'acme', id: 'fp-1:2', read_at: '2025-11-23T12:05:00.000Z', read_by: 'ops@acme' })
    const added = f.notification(decodeInboxChange(Buffer.from('acme|fp-1:2'), Buffer.from(JSON.stringify(item))))!
    expect(added.to).toEqual([all, acme])
    expect(added.observedMs).toBeUndefined()
    deliver(f, added)
    const deleted = f.notification(decodeInboxChange(Buffer.from('acme|fp-1:2'), null))!
    expect(deleted.to).toEqual([all, acme])
    deliver(f, deleted)
    const expected = [
      { type: 'notification', data: item },
      { type: 'notification_deleted', data: { tenant: 'acme', id: 'fp-1:2' } },
    ]
    expect(acme.got).toEqual(expected)
    expect(all.got).toEqual(expected)
    expect(globex.got).toEqual([])
    expect(logsOnly.got).toEqual([])

    // Another tenant's change goes to its own clients; with no alert subscriber, no frame at all.
    expect(f.notification({ kind: 'deleted', tenant: 'globex', id: 'fp-9:1' })!.to).toEqual([all, globex])
    for (const s of [all, acme, globex]) f.remove(s)
    expect(f.notification({ kind: 'item', tenant: 'acme', id: 'fp-1:2', item })).toBeUndefined()
  })
})
