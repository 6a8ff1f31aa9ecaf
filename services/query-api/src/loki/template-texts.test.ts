import { describe, expect, it } from 'vitest'
import { TemplateTexts } from './template-texts.js'

/** A `patterns` table of tenant → id → text, recording the ids each read asked for. */
function table(texts: Record<string, Record<string, string>>) {
  const reads: Array<{ tenant: string; ids: string[] }> = []
  const read = (tenant: string) => async (ids: readonly string[]) => {
    reads.push({ tenant, ids: [...ids] })
    return ids.filter((id) => texts[tenant]?.[id] !== undefined).map((id) => ({ id, template: texts[tenant]![id]! }))
  }
  return { reads, read, texts }
}

describe('TemplateTexts', () => {
  it('reads only the ids it does not hold, and answers held ones without a read', async () => {
    let now = 0
    const cache = new TemplateTexts({ ttlMs: 1000, maxEntries: 100, now: () => now })
    const t = table({ a: { p1: 'login <*>', p2: 'logout', p3: 'retry <*> of <*>' } })
    expect(await cache.get('a', ['p1', 'p2'], t.read('a'))).toEqual(new Map([['p1', 'login <*>'], ['p2', 'logout']]))
    now = 500
    expect(await cache.get('a', ['p1', 'p2', 'p3'], t.read('a'))).toEqual(new Map([['p1', 'login <*>'], ['p2', 'logout'], ['p3', 'retry <*> of <*>']]))
    expect(await cache.get('a', ['p2', 'p3'], t.read('a'))).toEqual(new Map([['p2', 'logout'], ['p3', 'retry <*> of <*>']]))
    expect(t.reads).toEqual([{ tenant: 'a', ids: ['p1', 'p2'] }, { tenant: 'a', ids: ['p3'] }])
  })

  it('reads a text again once it is older than the TTL, so a group that gained a parameter shows it', async () => {
    let now = 0
    const cache = new TemplateTexts({ ttlMs: 1000, maxEntries: 100, now: () => now })
    const t = table({ a: { p1: 'user alice logged in' } })
    await cache.get('a', ['p1'], t.read('a'))
    t.texts.a!.p1 = 'user <*> logged in'
    now = 999
    expect((await cache.get('a', ['p1'], t.read('a'))).get('p1')).toBe('user alice logged in')
    now = 1000
    expect((await cache.get('a', ['p1'], t.read('a'))).get('p1')).toBe('user <*> logged in')
    expect(t.reads).toHaveLength(2)
  })

  it('keeps tenants apart: the same id of another tenant is read from that tenant', async () => {
    const cache = new TemplateTexts({ ttlMs: 1000, maxEntries: 100, now: () => 0 })
    const t = table({ a: { p1: 'text of a' }, b: { p1: 'text of b' } })
    expect((await cache.get('a', ['p1'], t.read('a'))).get('p1')).toBe('text of a')
    expect((await cache.get('b', ['p1'], t.read('b'))).get('p1')).toBe('text of b')
    expect(t.reads).toEqual([{ tenant: 'a', ids: ['p1'] }, { tenant: 'b', ids: ['p1'] }])
  })

  it('leaves out ids without a template and asks for them again next time', async () => {
    const cache = new TemplateTexts({ ttlMs: 1000, maxEntries: 100, now: () => 0 })
    const t = table({ a: { p1: 'known' } })
    expect(await cache.get('a', ['p1', 'gone'], t.read('a'))).toEqual(new Map([['p1', 'known']]))
    t.texts.a!.gone = 'now stored'
    expect(await cache.get('a', ['p1', 'gone'], t.read('a'))).toEqual(new Map([['p1', 'known'], ['gone', 'now stored']]))
    expect(t.reads.map((r) => r.ids)).toEqual([['p1', 'gone'], ['gone']])
  })

  it('holds at most maxEntries texts, dropping the longest held first', async () => {
    let now = 0
    const cache = new TemplateTexts({ ttlMs: 10_000, maxEntries: 3, now: () => now })
    const texts = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`p${i}`, `t${i}`]))
    const t = table({ a: texts })
    await cache.get('a', ['p0', 'p1', 'p2'], t.read('a'))
    now = 1
    await cache.get('a', ['p3', 'p4'], t.read('a'))
    expect(cache.size).toBe(3)
    // p0 and p1 were dropped; p2 to p4 are still held.
    await cache.get('a', ['p0', 'p2', 'p3', 'p4'], t.read('a'))
    expect(t.reads.at(-1)!.ids).toEqual(['p0'])
    expect(cache.size).toBe(3)
  })
})
