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

  // Lines without quotes are refused from a count of '=' and spaces before any parsing: the
  // answer must stay the parse's. The reference below is the rule itself, on blank-separated
  // tokens: a pair is a token with '=' after a non-empty key; pairs must be ≥ 2 and ≥ half.
  it('refuses or accepts unquoted lines exactly as the pairs-dominate rule says', () => {
    const reference = (line: string): Record<string, string> | undefined => {
      const tokens: string[] = []
      let run = ''
      for (const ch of line + ' ') {
        if (ch.charCodeAt(0) > 32) run += ch
        else if (run !== '') {
          tokens.push(run)
          run = ''
        }
      }
      const pairs = tokens.filter((t) => t.indexOf('=') > 0)
      if (pairs.length < 2 || pairs.length * 2 < tokens.length) return undefined
      return Object.fromEntries(pairs.map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]))
    }
    const edges = [
      'a=1 b=2 c d', 'a=1 b=2 c d e', 'a=1  b=2\t\tc   d', '\ta=1\tb=2 c\td\te', ' a=1 b=2 ', '=x =y a=1 b=2', 'a=b=c d=e f g',
      'k=v', 'x y z a=1 b=2', 'a= b= c d', 'a=1\nb=2 c\nd e', 'GET /api/v1/items 200 in 12 ms user=u-1 req=ab12 seq=3 cache miss',
    ]
    let seed = 7
    const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n
    const pieces = ['a', 'key', 'x=1', 'k=', '=v', 'a=b=c', 'user=u-9', 'word', '12', 'p=q']
    const blanks = [' ', '  ', '\t', ' \t', '\n']
    const generated = Array.from({ length: 2000 }, () => {
      let line = rand(4) === 0 ? blanks[rand(blanks.length)]! : ''
      for (let i = 0, n = 1 + rand(9); i < n; i++) line += (i > 0 ? blanks[rand(blanks.length)]! : '') + pieces[rand(pieces.length)]!
      return line
    })
    for (const line of [...edges, ...generated]) expect(parseLogfmt(line), JSON.stringify(line)).toEqual(reference(line))
  })
})
