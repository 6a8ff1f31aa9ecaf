import { describe, expect, it } from 'vitest'
import { parseLevel, parseSeverity, severityFromPino, severityFromSyslog } from './severity.js'

describe('parseSeverity', () => {
  it.each([
    ['info', 'INFO', 9],
    ['INFO', 'INFO', 9],
    ['Warning', 'WARN', 13],
    ['WRN', 'WARN', 13],
    ['err', 'ERROR', 17],
    ['CRITICAL', 'FATAL', 21],
    ['emerg', 'FATAL', 23],
    ['notice', 'INFO', 10],
    ['trace', 'TRACE', 1],
    ['E', 'ERROR', 17],
    ['ERROR3', 'ERROR', 19],
    ['17', 'ERROR', 17],
  ])('maps %j to %s', (input, text, number) => {
    expect(parseSeverity(input)).toEqual({ text, number })
  })

  it('accepts OTel severity numbers', () => {
    expect(parseSeverity(5)).toEqual({ text: 'DEBUG', number: 5 })
    expect(parseSeverity(24)).toEqual({ text: 'FATAL', number: 24 })
  })

  it('rejects unknown spellings and out-of-range numbers', () => {
    expect(parseSeverity('loud')).toBeUndefined()
    expect(parseSeverity(0)).toBeUndefined()
    expect(parseSeverity(25)).toBeUndefined()
    expect(parseSeverity('')).toBeUndefined()
  })

  it('maps syslog severities 0..7', () => {
    expect(severityFromSyslog(0)?.text).toBe('FATAL')
    expect(severityFromSyslog(3)?.text).toBe('ERROR')
    expect(severityFromSyslog(4)?.text).toBe('WARN')
    expect(severityFromSyslog(7)?.text).toBe('DEBUG')
    expect(severityFromSyslog(8)).toBeUndefined()
  })

  it('maps pino/bunyan numbers, custom levels rounding down', () => {
    expect([10, 20, 30, 40, 50, 60, 45, 70].map((n) => severityFromPino(n).text)).toEqual(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'WARN', 'FATAL'])
  })
})

describe('parseLevel', () => {
  it('reads 1-24 as OTel, larger numbers on the pino scale, 0 as unspecified', () => {
    expect(parseLevel(17)).toEqual({ text: 'ERROR', number: 17 })
    expect(parseLevel(30)).toEqual({ text: 'INFO', number: 9 })
    expect(parseLevel('50')).toEqual({ text: 'ERROR', number: 17 })
    expect(parseLevel(0)).toBeNull()
    expect(parseLevel('warning')).toEqual({ text: 'WARN', number: 13 })
  })

  it('rejects negative, fractional and unknown values', () => {
    expect(parseLevel(-1)).toBeUndefined()
    expect(parseLevel(30.5)).toBeUndefined()
    expect(parseLevel('loud')).toBeUndefined()
  })
})
