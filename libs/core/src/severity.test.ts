import { describe, expect, it } from 'vitest'
import { parseSeverity, severityFromSyslog } from './severity.js'

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
})
