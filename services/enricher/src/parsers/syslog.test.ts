import { describe, expect, it } from 'vitest'
import { parseSyslog } from './syslog.js'

const REF = Date.UTC(2025, 10, 23, 12, 0, 0) // 2025-11-23T12:00:00Z

describe('parseSyslog — RFC 5424', () => {
  it('parses the RFC example with structured data', () => {
    const line = '<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry...'
    expect(parseSyslog(line, REF)).toEqual({
      protocol: 'rfc5424', facility: 20, facilityName: 'local4', severity: 5,
      timestamp: '2003-10-11T22:14:15.003Z', timestampNs: 1065910455003000000n,
      hostname: 'mymachine.example.com', appName: 'evntslog', procId: null, msgId: 'ID47',
      sdParams: ['exampleSDID@32473', 'iut', '3', 'exampleSDID@32473', 'eventSource', 'Application', 'exampleSDID@32473', 'eventID', '1011'],
      message: 'An application event log entry...',
    })
  })

  it('parses nil values, several SD elements with escapes, and strips the BOM', () => {
    const line = '<86>1 2025-11-23T12:00:00.000000+01:00 host-a sshd 2044 - [origin ip="10.0.0.1"][meta note="a \\"quoted\\" \\] value"] \uFEFFAccepted publickey for deploy'
    const r = parseSyslog(line, REF)
    expect(r).toMatchObject({ facilityName: 'authpriv', severity: 6, procId: '2044', msgId: null, message: 'Accepted publickey for deploy' })
    expect(r?.sdParams).toEqual(['origin', 'ip', '10.0.0.1', 'meta', 'note', 'a "quoted" ] value'])
    expect(r?.timestampNs).toBe(1_763_895_600_000_000_000n)
  })

  it('accepts a message-less record', () => {
    expect(parseSyslog('<13>1 - - - - - -', REF)).toMatchObject({ facility: 1, severity: 5, timestamp: null, hostname: null, message: '' })
  })
})

describe('parseSyslog — RFC 3164', () => {
  it('parses the RFC example', () => {
    expect(parseSyslog("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8", REF)).toEqual({
      protocol: 'rfc3164', facility: 4, facilityName: 'auth', severity: 2,
      timestamp: 'Oct 11 22:14:15', timestampNs: BigInt(Date.UTC(2025, 9, 11, 22, 14, 15)) * 1_000_000n,
      hostname: 'mymachine', appName: 'su', procId: null, msgId: null, sdParams: [],
      message: "'su root' failed for lonvick on /dev/pts/8",
    })
  })

  it('parses a /var/log line without PRI, with a PID', () => {
    const r = parseSyslog('Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from 173.234.31.186', REF)
    expect(r).toMatchObject({ facility: null, severity: null, hostname: 'LabSZ', appName: 'sshd', procId: '24200', message: 'Invalid user webmaster from 173.234.31.186' })
    // December is ahead of the November reference: the line is from the previous year.
    expect(r?.timestampNs).toBe(BigInt(Date.UTC(2024, 11, 10, 6, 55, 46)) * 1_000_000n)
  })

  it('handles a space-padded day, a missing hostname and an ISO timestamp', () => {
    expect(parseSyslog('<13>Nov  3 01:02:03 cron[77]: job done', REF)).toMatchObject({ hostname: null, appName: 'cron', procId: '77', message: 'job done' })
    expect(parseSyslog('<30>2025-11-23T11:59:59.5Z node-3 kubelet[901]: Pod evicted', REF)).toMatchObject({
      severity: 6, facilityName: 'daemon', hostname: 'node-3', appName: 'kubelet', timestampNs: 1_763_899_199_500_000_000n, message: 'Pod evicted',
    })
  })

  it('rejects what is not syslog', () => {
    expect(parseSyslog('hello world', REF)).toBeUndefined()
    expect(parseSyslog('<999>Oct 11 22:14:15 host app: x', REF)).toBeUndefined()
    expect(parseSyslog('<b>bold</b> text', REF)).toBeUndefined()
  })
})
