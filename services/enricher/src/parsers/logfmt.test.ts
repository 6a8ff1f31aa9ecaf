import { describe, expect, it } from 'vitest'
import { parseLogfmt } from './logfmt.js'

describe('parseLogfmt', () => {
  it('parses a Grafana/Loki line with quoted values', () => {
    const line = 'level=info ts=2025-11-23T12:00:00.123Z caller=metrics.go:92 component=querier org_id=fake latency=fast query="{app=\\"nginx\\"} |= \\"error\\"" duration=1.5s status=200'
    expect(parseLogfmt(line)).toEqual({
      level: 'info', ts: '2025-11-23T12:00:00.123Z', caller: 'metrics.go:92', component: 'querier', org_id: 'fake',
      latency: 'fast', query: '{app="nginx"} |= "error"', duration: '1.5s', status: '200',
    })
  })

  it('parses Go slog text output and logrus text output', () => {
    expect(parseLogfmt('time=2025-11-23T12:00:00.000Z level=ERROR msg="payment failed" order_id=A-1009 err="card declined"')).toEqual({
      time: '2025-11-23T12:00:00.000Z', level: 'ERROR', msg: 'payment failed', order_id: 'A-1009', err: 'card declined',
    })
    expect(parseLogfmt('time="2025-11-23T12:00:00Z" level=warning msg="Retrying request" attempt=2 service=billing')).toMatchObject({ level: 'warning', attempt: '2' })
  })

  it('unescapes quoted values and accepts empty ones', () => {
    expect(parseLogfmt('msg="line1\\nline2 \\"q\\"" empty= path="C:\\\\tmp"')).toEqual({ msg: 'line1\nline2 "q"', empty: '', path: 'C:\\tmp' })
  })

  it('takes the rest of the line for an unterminated quote', () => {
    expect(parseLogfmt('level=info msg="cut off by trunc')).toEqual({ level: 'info', msg: 'cut off by trunc' })
  })

  it('does not take prose with a stray pair for logfmt', () => {
    expect(parseLogfmt('User login failed for id=5 after three attempts')).toBeUndefined()
    expect(parseLogfmt('no pairs at all')).toBeUndefined()
    expect(parseLogfmt('only=one')).toBeUndefined()
    expect(parseLogfmt('accepted key user=git ip=10.0.0.1')).toEqual({ user: 'git', ip: '10.0.0.1' })
  })
})
