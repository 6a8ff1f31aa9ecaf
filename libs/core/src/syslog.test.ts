// The shared syslog parser at its edges: what the network may send that a log file would not
// (hostile SD names, impossible dates, fractions on BSD timestamps). The common shapes are tested
// where the enricher reads bodies with it (services/enricher/src/parsers/syslog.test.ts).
import { describe, expect, it } from 'vitest'
import { parseSyslog, parseSyslogPri } from './syslog.js'

const REF = Date.UTC(2026, 10, 30, 12, 0, 0) // 2026-11-30T12:00:00Z
const ms = (...a: [number, number, number, number, number, number, number?]) => BigInt(Date.UTC(...a)) * 1_000_000n

describe('parseSyslog structured data', () => {
  it('keeps SD-IDs and names such as __proto__ as data, polluting no prototype', () => {
    const r = parseSyslog('<13>1 - h a - - [__proto__ polluted="yes" __proto__="x"][constructor prototype="p"] m', REF)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    expect(r!.sdParams).toEqual(['__proto__', 'polluted', 'yes', '__proto__', '__proto__', 'x', 'constructor', 'prototype', 'p'])
  })

  it('lists a repeated SD-ID’s parameters again, in wire order, and keeps unknown backslashes', () => {
    const r = parseSyslog('<13>1 - h a - - [x a="1"][x b="\\d\\\\"][x a="2"] m', REF)
    expect(r!.sdParams).toEqual(['x', 'a', '1', 'x', 'b', '\\d\\', 'x', 'a', '2'])
  })

  it('unescapes exactly the values that hold escapes, wherever the line’s backslashes are', () => {
    // Escapes in a middle value and a later SD element only; backslashes after the SD, in MSG.
    const r = parseSyslog('<13>1 - h a - - [x a="1" b="p\\]q" c="2"][y d="\\"3\\"" e="4"] C:\\logs\\app', REF)
    expect(r!.sdParams).toEqual(['x', 'a', '1', 'x', 'b', 'p]q', 'x', 'c', '2', 'y', 'd', '"3"', 'y', 'e', '4'])
    expect(r!.message).toBe('C:\\logs\\app')
    expect(parseSyslog('<13>1 - h a - - [x a="\\\\" b="\\q"] m', REF)!.sdParams).toEqual(['x', 'a', '\\', 'x', 'b', '\\q'])
  })

  it('refuses SD that breaks the grammar: unterminated value, bad or too long names', () => {
    for (const sd of ['[x a="1]', '[x a=1]', '[x a="1" ]', `[${'i'.repeat(33)} a="1"]`, '[x =""]', '[x a="1"', '[]']) {
      expect(parseSyslog(`<13>1 - h a - - ${sd} m`, REF), sd).toBeUndefined()
    }
    expect(parseSyslog(`<13>1 - h a - - [${'i'.repeat(32)} ${'p'.repeat(32)}=""] m`, REF)?.message).toBe('m')
  })
})

describe('parseSyslog RFC 3164 time', () => {
  it('keeps the fraction of a second some senders add', () => {
    expect(parseSyslog('<13>Nov 30 11:00:00.123456 h a: m', REF)?.timestampNs).toBe(ms(2026, 10, 30, 11, 0, 0) + 123_456_000n)
  })

  it('reads Feb 29 in a year without one as the last leap year’s, and an impossible date as no time', () => {
    expect(parseSyslog('<13>Feb 29 10:00:00 h a: m', Date.UTC(2027, 2, 1))?.timestampNs).toBe(ms(2024, 1, 29, 10, 0, 0))
    for (const t of ['Nov 31 10:00:00', 'Nov  0 10:00:00', 'Nov 30 24:00:00', 'Nov 30 10:60:00']) {
      const r = parseSyslog(`<13>${t} h a: m`, REF)
      expect(r, t).toMatchObject({ protocol: 'rfc3164', appName: 'a', message: 'm' })
      expect(r?.timestampNs, t).toBeUndefined()
    }
  })
})

describe('parseSyslogPri', () => {
  it('reads facility and severity up to 191 and nothing past it', () => {
    expect(parseSyslogPri('<0>x')).toEqual({ pri: { facility: 0, facilityName: 'kern', severity: 0 }, length: 3 })
    expect(parseSyslogPri('<191>x')).toEqual({ pri: { facility: 23, facilityName: 'local7', severity: 7 }, length: 5 })
    for (const bad of ['<192>x', '<>x', '<1234>x', '13>x', 'x']) expect(parseSyslogPri(bad), bad).toBeUndefined()
  })
})
