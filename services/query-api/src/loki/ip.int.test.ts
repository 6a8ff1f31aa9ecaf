// LogQL's ip("…") as ClickHouse conditions, evaluated by embedded ClickHouse against Node's own
// address matcher (net.BlockList) over generated addresses, and over lines as Loki reads them.
import { BlockList, isIPv6 } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'
import { Params, ipCondition, lineHasIp } from './sql.js'

let store: TestStore
let ch: ClickHouseHandle

beforeAll(async () => {
  store = await openTestStore('ip')
  ch = store.ch
})
afterAll(() => store.close())

/** Each text's condition, evaluated in one query. */
async function evaluate(texts: string[], condition: (x: string, p: Params) => string): Promise<boolean[]> {
  const p = new Params()
  const cond = condition('x', p)
  const list = p.bind(texts, 'Array(String)')
  const rs = await ch.client.query({ query: `SELECT groupArray(toUInt8(${cond})) AS hits FROM (SELECT arrayJoin(${list}) AS x)`, query_params: p.values, format: 'JSONEachRow' })
  return (await rs.json<{ hits: number[] }>())[0]!.hits.map((h) => h === 1)
}

/** Deterministic pseudo-random addresses around the interesting ranges. */
function addresses(): string[] {
  let a = 7
  const next = () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0
    return a
  }
  const out: string[] = []
  for (let i = 0; i < 300; i++) {
    const n = next()
    out.push(`${[10, 192, 172, 8][n % 4]}.${(n >>> 8) % 256}.${(n >>> 16) % 256}.${next() % 256}`)
    out.push(`2001:db8:${(next() % 4).toString(16)}::${(next() % 65536).toString(16)}`)
  }
  return [...out, '10.0.0.0', '10.255.255.255', '11.0.0.0', '192.168.0.5', '192.168.0.20', '192.168.0.21', '::1', '::ffff:10.0.0.1', 'fe80::1', 'not-an-ip', '', '10.0.0.1.', '300.1.1.1']
}

const SPECS: [string, (b: BlockList) => void][] = [
  ['10.0.0.0/8', (b) => b.addSubnet('10.0.0.0', 8, 'ipv4')],
  ['192.168.0.5-192.168.0.20', (b) => b.addRange('192.168.0.5', '192.168.0.20', 'ipv4')],
  ['192.168.0.21', (b) => b.addAddress('192.168.0.21', 'ipv4')],
  ['172.16.0.0/12', (b) => b.addSubnet('172.16.0.0', 12, 'ipv4')],
  ['0.0.0.0/0', (b) => b.addSubnet('0.0.0.0', 0, 'ipv4')],
  ['2001:db8::/33', (b) => b.addSubnet('2001:db8::', 33, 'ipv6')],
  ['2001:db8:1::-2001:db8:2::ffff', (b) => b.addRange('2001:db8:1::', '2001:db8:2::ffff', 'ipv6')],
  ['::1', (b) => b.addAddress('::1', 'ipv6')],
]

describe('ip() filters', () => {
  it('matches addresses, ranges and CIDRs of either family as net.BlockList does', async () => {
    const texts = addresses()
    for (const [spec, add] of SPECS) {
      const list = new BlockList()
      add(list)
      const family = (t: string) => (isIPv6(t) ? 'ipv6' : 'ipv4')
      // Same family only: BlockList maps IPv4 into IPv6 ranges, Go's netip (Loki) does not.
      const expected = texts.map((t) => {
        const f = /^\d+\.\d+\.\d+\.\d+$/.test(t) ? 'ipv4' : isIPv6(t) ? 'ipv6' : undefined
        if (!f || (f === 'ipv4' && t.split('.').some((x) => Number(x) > 255))) return false
        return family(spec.split(/[-/]/)[0]!) === f && list.check(t, f)
      })
      expect(await evaluate(texts, (x, p) => ipCondition(spec, p)(x)), spec).toEqual(expected)
    }
  })

  it('finds an address in a line as Loki reads lines: an address hint, then the run of address characters', async () => {
    const lines = ['GET / from 10.1.2.3:443 ok', 'client=10.1.2.3', 'peer 1.2.3.45', 'version 10.1.2.3.4', 'at the end 10.1.2.3.', 'v6 [2001:db8::7]:80', 'no address here', 'request:10.9.9.9', 'id 1234.5.6.7', 'x::ffff:10.0.0.1 mapped']
    expect(await evaluate(lines, (x, p) => lineHasIp(x, ipCondition('10.0.0.0/8', p)))).toEqual([true, true, false, false, false, false, false, true, false, false])
    expect(await evaluate(lines, (x, p) => lineHasIp(x, ipCondition('2001:db8::/32', p)))).toEqual([false, false, false, false, false, true, false, false, false, false])
    // The run after a digit that has no dot within three characters starts later: 234.5.6.7.
    expect(await evaluate(lines, (x, p) => lineHasIp(x, ipCondition('234.5.6.7', p)))).toEqual([false, false, false, false, false, false, false, false, true, false])
    expect(await evaluate(lines, (x, p) => lineHasIp(x, ipCondition('1.2.3.4', p)))).toEqual([false, false, false, false, false, false, false, false, false, false])
    expect(await evaluate(lines, (x, p) => lineHasIp(x, ipCondition('::ffff:0:0/96', p)))).toEqual([false, false, false, false, false, false, false, false, false, true])
  })

  it('answers 400 for what is no address, range or CIDR', () => {
    for (const spec of ['', '10.0.0.0/33', '10.0.0/8', '10.0.0.5-10.0.0.1', '10.0.0.1-::1', 'fe80::1%eth0', 'host.example.com', '::/129']) {
      expect(() => ipCondition(spec, new Params()), spec).toThrow(/not an IP address, range \(a-b\) or CIDR/)
    }
  })
})
