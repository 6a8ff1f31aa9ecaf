import { describe, expect, it } from 'vitest'
import { Drain, patternIdOf } from './drain.js'

const wildOnly = { masks: [] }

describe('Drain', () => {
  it('groups messages of one shape and turns the differing positions into <*>', () => {
    const d = new Drain(wildOnly)
    const a = d.add('user alice logged in from web')
    expect(a.change).toBe('created')
    expect(a.template).toBe('user alice logged in from web')
    const b = d.add('user bob logged in from web')
    expect(b.change).toBe('generalized')
    expect(b.template).toBe('user <*> logged in from web')
    expect(b.clusterId).toBe(a.clusterId)
    expect(d.add('user carol logged in from web').change).toBe('none')
    expect(d.clusterCount).toBe(1)
  })

  it('keeps messages of different lengths or low similarity apart', () => {
    const d = new Drain(wildOnly)
    d.add('connection opened to db')
    d.add('connection opened to db primary')
    d.add('cache warmed in region eu')
    expect(d.clusterCount).toBe(3)
  })

  it('masks numbers, IPs, UUIDs, hex, paths, URLs and emails before matching', () => {
    const d = new Drain()
    const r = d.add(
      'GET https://api.example.com/v1/x from 10.0.0.12:8080 req 5f0c6a2e-9d3b-4c1a-8e2f-1234567890ab id 0x7ffe12 took 15ms file /var/log/app/x.log by ops@example.com at 2025-11-23T12:00:00.123Z',
    )
    expect(r.template).toBe('GET <URL> from <IP> req <UUID> id <HEX> took <NUM> file <PATH> by <EMAIL> at <TS>')
  })

  it('leaves words with digits and version strings to the tree, not the masks', () => {
    const d = new Drain()
    expect(d.tokenize('node user42 runs v1.2.3 with worker-7')).toEqual(['node', 'user42', 'runs', 'v1.2.3', 'with', 'worker-<NUM>'])
  })

  it('gives the same message shape the same pattern_id in separate instances', () => {
    const lines = ['Accepted password for root from 10.0.0.1 port 22 ssh2', 'Accepted password for admin from 10.0.0.2 port 2222 ssh2']
    const one = new Drain()
    const two = new Drain()
    const a = lines.map((l) => one.add(l))
    const b = lines.reverse().map((l) => two.add(l))
    expect(a[1]?.template).toBe('Accepted password for <*> from <IP> port <NUM> ssh2')
    expect(a[1]?.patternId).toBe(b[1]?.patternId)
    expect(a[1]?.patternId).toBe(patternIdOf('Accepted password for <*> from <IP> port <NUM> ssh2'))
    expect(a[1]?.patternId).toMatch(/^[0-9a-f]{16}$/)
  })

  it('keeps the clusterId of the creating template while the patternId follows generalisation', () => {
    const d = new Drain(wildOnly)
    const first = d.add('job alpha finished ok')
    const second = d.add('job beta finished ok')
    expect(second.clusterId).toBe(first.clusterId)
    expect(second.patternId).not.toBe(first.patternId)
    expect(first.cluster.template).toBe('job <*> finished ok')
  })

  it('restores its clusters and ids from a snapshot, as after a restart', () => {
    const d = new Drain(wildOnly)
    const created = d.add('job alpha finished ok')
    d.add('job beta finished ok')
    const restored = new Drain(wildOnly)
    restored.restore(JSON.parse(JSON.stringify(d.snapshot())))
    const again = restored.add('job gamma finished ok')
    expect(again.change).toBe('none')
    expect(again.clusterId).toBe(created.clusterId)
    expect(again.template).toBe('job <*> finished ok')
  })

  it('writes a run of wildcards as one, so lists of any length share a template', () => {
    const d = new Drain({ masks: [{ pattern: 'blk_-?\\d+', replacement: '<*>' }] })
    d.add('ask 10.0.0.1 to delete blk_1 blk_2 blk_3')
    const r = d.add('ask 10.0.0.2 to delete blk_4 blk_5 blk_6')
    expect(r.template).toBe('ask <*> to delete <*>')
    expect(new Drain({ ...wildOnly, collapseWildcardRuns: false }).add('a <*> <*> b').template).toBe('a <*> <*> b')
  })

  it('finds a cluster with match() without learning', () => {
    const d = new Drain(wildOnly)
    d.add('cache miss for key a')
    expect(d.match('cache miss for key b')?.template).toBe('cache miss for key a')
    expect(d.match('totally different message here')).toBeUndefined()
    expect(d.clusterCount).toBe(1)
  })

  it('handles empty and one-token messages', () => {
    const d = new Drain(wildOnly)
    expect(d.add('').template).toBe('')
    expect(d.add('   ').change).toBe('none')
    d.add('started')
    expect(d.add('started').change).toBe('none')
    expect(d.clusterCount).toBe(2)
  })

  it('splits on extra delimiters', () => {
    const d = new Drain({ masks: [], extraDelimiters: ['=', ','] })
    expect(d.tokenize('a=1,b=2')).toEqual(['a', '1', 'b', '2'])
  })

  it('routes tokens with digits through the wildcard branch so ids cannot blow up the tree', () => {
    const d = new Drain({ masks: [], similarityThreshold: 0.5 })
    for (let i = 0; i < 50; i++) d.add(`session s${i} closed normally`)
    expect(d.clusterCount).toBe(1)
    expect(d.add('session s99 closed normally').template).toBe('session <*> closed normally')
  })

  it('evicts the least recently used clusters beyond maxClusters', () => {
    const d = new Drain({ masks: [], maxClusters: 10 })
    const keep = d.add('keep this template alive please')
    for (let i = 0; i < 30; i++) {
      d.add(`${'x'.repeat(i + 1)} distinct shape number ${'y'.repeat(i + 1)} z`)
      d.add('keep this template alive please')
    }
    expect(d.clusterCount).toBeLessThanOrEqual(10)
    expect(d.match('keep this template alive please')?.clusterId).toBe(keep.clusterId)
  })

  it('rejects a depth below 3', () => {
    expect(() => new Drain({ depth: 2 })).toThrow(RangeError)
  })
})
