import { describe, expect, it } from 'vitest'
import { DEFAULT_MASKS, compileMasks } from './masking.js'

const mask = compileMasks(DEFAULT_MASKS)

describe('default masks', () => {
  it.each([
    ['peer 2001:db8::8a2e:370:7334 and fe80::1 and ::1', 'peer <IP> and <IP> and <IP>'],
    ['std::string at 12:30:45 failed', 'std::string at <NUM>:<NUM>:<NUM> failed'],
    ['from 192.168.0.1:5432, not 1.2.3.4.5', 'from <IP>, not 1.2.3.4.5'],
    ['blk_-1608999687919862906 replicated to 3 nodes', 'blk_<NUM> replicated to <NUM> nodes'],
    ['sha 3f786850e387550fdab836ed7e6dc881de23001b ok', 'sha <HEX> ok'],
    ['word deadbeef stays, user42 stays, 2.5MB masks, 100% masks', 'word deadbeef stays, user42 stays, <NUM> masks, <NUM> masks'],
    ['GET /api/v1/users HTTP/1.1 from /health', 'GET <PATH> HTTP/<NUM> from /health'],
    ['req 123e4567-e89b-12d3-a456-426614174000 on worker-7-a', 'req <UUID> on worker-<NUM>-a'],
  ])('%s', (input, expected) => {
    expect(mask(input)).toBe(expected)
  })

  it('accepts string patterns and escapes $ in placeholders', () => {
    const m = compileMasks([{ pattern: '\\d+', replacement: '$n' }])
    expect(m('a 1 b 22')).toBe('a $n b $n')
  })

  it('skips a rule whose hint is absent without changing the result', () => {
    const m = compileMasks([{ pattern: /x+/g, replacement: '<X>', hint: 'x' }])
    expect(m('abc')).toBe('abc')
    expect(m('axxb')).toBe('a<X>b')
  })

  it('tests a regex hint afresh on every text, even one compiled with the g flag', () => {
    const m = compileMasks([{ pattern: /x+/g, replacement: '<X>', hint: /x/g }])
    expect([m('axb'), m('axb'), m('ab')]).toEqual(['a<X>b', 'a<X>b', 'ab'])
  })
})
