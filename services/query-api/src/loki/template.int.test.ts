// LogQL templates (line_format, label_format) as ClickHouse expressions, evaluated by embedded
// ClickHouse: each function against what Go's text/template and the Loki documentation's examples
// answer, and a 400 naming what Sluice does not support.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'
import { Params } from './sql.js'
import { compileTemplate } from './template.js'

let store: TestStore
let ch: ClickHouseHandle

beforeAll(async () => {
  store = await openTestStore('template')
  ch = store.ch
})
afterAll(() => store.close())

const LABELS: Record<string, string> = {
  path: 'a b c d e f',
  query: ',. hello ,.',
  uri: '::a:',
  remote_addr: '129.168.1.1',
  method: 'get',
  accent: 'éa',
  blank: '',
}
const LINE = 'GET /Index.HTML 200'

/** 2024-03-05T07:08:09.123456789Z, a Tuesday. */
const TS_NS = BigInt(Date.UTC(2024, 2, 5, 7, 8, 9)) * 1_000_000n + 123_456_789n

/** What the template prints for a line with LABELS at TS_NS (or `ns`). */
async function render(template: string, ns = TS_NS): Promise<string> {
  const p = new Params()
  const timestamp = `fromUnixTimestamp64Nano(${p.bind(ns.toString(), 'Int64')}, 'UTC')`
  const t = compileTemplate(template, { p, label: (name) => (name in LABELS ? p.bind(LABELS[name]) : "''"), line: p.bind(LINE), timestamp })
  const rs = await ch.client.query({ query: `SELECT ${t.sql} AS out, toUInt8(${t.error}) AS failed`, query_params: p.values, format: 'JSONEachRow' })
  const row = (await rs.json<{ out: string; failed: number }>())[0]!
  // A failing template's text is not an answer: say so instead.
  return row.failed ? 'TemplateFormatErr' : row.out
}

/** Each template prints what it is paired with. */
async function expectRendered(cases: [template: string, expected: string][]): Promise<void> {
  for (const [template, expected] of cases) expect(await render(template), template).toBe(expected)
}

describe('LogQL templates', () => {
  it("answers the Loki documentation's examples as Loki does", async () => {
    const cases: [string, string][] = [
      ['{{ .path | replace " " "_" | trunc 5 | upper }}', 'A_B_C'],
      ['{{ToUpper "This is a string" | ToLower}}', 'this is a string'],
      ['{{ Replace "This is a string" " " "-" -1 }}', 'This-is-a-string'],
      ['{{ Replace "aaa" "a" "b" 1 }}', 'baa'],
      ['{{ Trim .query ",. " }}', 'hello'],
      ['{{ TrimLeft .uri ":" }}', 'a:'],
      ['{{ TrimRight .uri ":" }}', '::a'],
      ['{{ alignLeft 5 "hello world"}}', 'hello'],
      ['{{ alignLeft 5 "hi"}}', 'hi   '],
      ['{{ alignRight 5 "hello world"}}', 'world'],
      ['{{ alignRight 5 "hi"}}', '   hi'],
      ['{{ .method | b64enc }}', 'Z2V0'],
      ['{{ default "-" "" }}', '-'],
      ['{{ default "-" "foo" }}', 'foo'],
      ['{{ .missing | default "-" }}', '-'],
      ['{{ lower "HELLO"}}', 'hello'],
      ['{{ upper "hello"}}', 'HELLO'],
      ['{{ repeat 3 "hello" }}', 'hellohellohello'],
      ['{{ printf "The IP address was %s" .remote_addr }}', 'The IP address was 129.168.1.1'],
      ['{{ printf "%v/%s 100%%" .method .uri }}', 'get/::a: 100%'],
      // The documentation's aligned columns: width and precision, in characters.
      ['{{ printf "%-40.40s" .path}} {{printf "%-5.5s" .method}}', `${'a b c d e f'.padEnd(40)} get  `],
      ['"|" {{printf "%15.15s" .remote_addr}} "|"', `"|" ${'129.168.1.1'.padStart(15)} "|"`],
      ['[{{ printf "%.3s|%3s|%-4v|%2s" .accent .accent .accent .path }}]', '[éa| éa|éa  |a b c d e f]'],
      ['{{ replace "hello" "world" "hello world" }}', 'world world'],
      ['{{ .path | substr 2 5 }}', 'b c'],
      ['{{ substr 0 5 "hello world"}}', 'hello'],
      ['{{ substr 6 11 "hello world"}}', 'world'],
      ['{{ substr 6 99 "hello world"}}', 'world'],
      ['{{ substr -1 5 "hello world"}}', 'hello'],
      ['{{ trim "   hello    " }}', 'hello'],
      ['{{ TrimSpace "\\t hi \\n" }}', 'hi'],
      ['{{ trimAll "$" "$5.00" }}', '5.00'],
      ['{{ trimPrefix "-" "-hello" }}', 'hello'],
      ['{{ TrimPrefix "hello" "x" }}', 'hello'],
      ['{{ trimSuffix "-" "hello-" }}', 'hello'],
      ['{{ trunc 5 "hello world"}}', 'hello'],
      ['{{ trunc -5 "hello world"}}', 'world'],
      ['{{ trunc -50 "hello world"}}', 'hello world'],
    ]
    await expectRendered(cases)
  })

  it('reads labels, the line, literals and nested pipelines, with Go trim markers', async () => {
    expect(await render('{{.method}} {{ __line__ | lower }}')).toBe('get get /index.html 200')
    expect(await render('[{{ trunc 3 (upper .path) }}]')).toBe('[A B]')
    expect(await render('{{ .accent | upper }} {{ "x" }}{{ 7 }}{{-3}}')).toBe('ÉA x7-3')
    expect(await render('a  {{- .method -}}  b')).toBe('agetb')
    expect(await render('{{ .blank }}')).toBe('')
    expect(await render('plain text')).toBe('plain text')
    expect(await render('{{ `raw "quoted"` }}')).toBe('raw "quoted"')
  })

  it('chooses with if / else if / else over conditions, as Go templates do', async () => {
    const cases: [string, string][] = [
      ['{{ if eq .method "get" }}read{{ else }}write{{ end }}', 'read'],
      ['{{ if eq .method "put" "get" }}one of{{ end }}', 'one of'],
      ['{{ if ne .method "get" }}x{{ else if contains "168" .remote_addr }}in 168{{ else }}y{{ end }}', 'in 168'],
      ['{{ if hasPrefix "129." .remote_addr }}p{{ end }}{{ if hasSuffix ".2" .remote_addr }}s{{ end }}', 'p'],
      ['{{ if .blank }}set{{ else }}empty{{ end }}-{{ if .method }}set{{ end }}', 'empty-set'],
      ['{{ if and (eq .method "get") (not .blank) }}both{{ end }}', 'both'],
      ['{{ if or .blank .missing }}any{{ else }}none{{ end }}', 'none'],
      // Go's and/or over strings give the deciding string.
      ['{{ or .blank .method }}|{{ and .method .uri }}|{{ and .blank .uri }}|', 'get|::a:||'],
      ['{{ eq .method "get" }} {{ lt "a" "b" }} {{ ge .method "z" }}', 'true true false'],
      ['{{- if eq .method "get" -}}  A  {{- end -}}  ', 'A'],
      ['{{ if eq .method "get" }}{{ if .blank }}inner{{ else }}{{ .uri | trimAll ":" }}{{ end }}{{ end }}', 'a'],
    ]
    await expectRendered(cases)
  })

  it('prints times as Go does: __timestamp__ with date layouts, unixEpoch*, and as Time.String()', async () => {
    const cases: [string, string][] = [
      ['{{ __timestamp__ }}', '2024-03-05 07:08:09.123456789 +0000 UTC'],
      ['{{ __timestamp__ | date "2006-01-02T15:04:05.00Z07:00" }}', '2024-03-05T07:08:09.12Z'],
      ['{{ date "Mon Jan _2 3:04:05 PM 2006" __timestamp__ }}', 'Tue Mar  5 7:08:09 AM 2024'],
      ['{{ __timestamp__ | date "Monday, January 02, 06 15h04 .999 -07:00 MST" }}', 'Tuesday, March 05, 24 07h08 .123 +00:00 UTC'],
      ['{{ __timestamp__ | date "1/2 03pm 05,000000 002" }}', '3/5 07am 09,123456 065'],
      ['{{ __timestamp__ | unixEpoch }}', String(TS_NS / 1_000_000_000n)],
      ['{{ __timestamp__ | unixEpochMillis }}', String(TS_NS / 1_000_000n)],
      ['{{ unixEpochNanos __timestamp__ }}', String(TS_NS)],
      ['{{ if __timestamp__ }}always{{ end }}', 'always'],
    ]
    await expectRendered(cases)
    // A whole second prints no fraction with .999…, and 9s cut trailing zeros.
    const whole = BigInt(Date.UTC(2024, 11, 31, 23, 59, 59)) * 1_000_000n
    expect(await render('{{ __timestamp__ }}', whole)).toBe('2024-12-31 23:59:59 +0000 UTC')
    expect(await render('{{ __timestamp__ | date "15:04:05.999" }}', whole + 120_000_000n)).toBe('23:59:59.12')
    expect(await render('{{ date "2006-01-02" now }}')).toBe(new Date().toISOString().slice(0, 10))
  })

  it('fails where Go\'s template fails (Loki then keeps the line, marked TemplateFormatErr): only on the branch taken', async () => {
    const cases: [string, string][] = [
      ['{{ substr -1 50 "hello" }}', 'TemplateFormatErr'],
      ['{{ substr 8 5 "hello world" }}', 'TemplateFormatErr'],
      ['{{ substr 20 -1 "hello" }}', 'TemplateFormatErr'],
      ['{{ substr 2 -1 "hello" }}', 'llo'],
      ['{{ date "2006-01-02 15:04:05" (unixToTime "1679577215") }}', '2023-03-23 13:13:35'],
      ['{{ unixToTime "19000" | date "2006-01-02" }}', '2022-01-08'],
      ['{{ unixToTime "1679577215123" | date "15:04:05.000" }}', '13:13:35.123'],
      ['{{ unixToTime "1679577215123456789" | unixEpochNanos }}', '1679577215123456789'],
      ['{{ unixToTime "12345678" | date "2006" }}', 'TemplateFormatErr'],
      ['{{ unixToTime .method | date "2006" }}', 'TemplateFormatErr'],
      ['{{ if eq .method "get" }}ok{{ else }}{{ unixToTime "x" | date "2006" }}{{ end }}', 'ok'],
      ['{{ if eq .method "put" }}ok{{ else }}{{ unixToTime "x" | date "2006" }}{{ end }}', 'TemplateFormatErr'],
      ['{{ if eq (substr 9 3 "abc") "x" }}a{{ end }}', 'TemplateFormatErr'],
    ]
    await expectRendered(cases)
  })

  it('answers 400 naming what it does not support, and what is malformed', () => {
    const refusal = (template: string) => {
      try {
        compileTemplate(template, { p: new Params(), label: () => "''", line: 'Body', timestamp: 'Timestamp' })
      } catch (err) {
        return (err as Error).message
      }
      return 'accepted'
    }
    expect(refusal('{{ .path | title }}')).toMatch(/unsupported LogQL: template function title/)
    expect(refusal('{{ range .a }}x{{ end }}')).toMatch(/unsupported LogQL: template action \{\{range\}\}/)
    expect(refusal('{{ if .a }}x')).toMatch(/\{\{if\}\} without \{\{end\}\}/)
    expect(refusal('x{{ end }}')).toMatch(/\{\{end\}\} without \{\{if\}\}/)
    expect(refusal('{{ if }}x{{ end }}')).toMatch(/missing condition/)
    expect(refusal('{{ if .a }}x{{ else .b }}y{{ end }}')).toMatch(/takes nothing but an if/)
    expect(refusal('{{ upper (eq .a .b) }}')).toMatch(/upper takes strings, not a condition/)
    expect(refusal('{{ eq .a 5 }}')).toMatch(/unsupported LogQL: template eq of anything but strings/)
    expect(refusal('{{ printf "%5d" .a }}')).toMatch(/unsupported LogQL: printf verb %5d/)
    expect(refusal('{{ printf "%+s" .a }}')).toMatch(/unsupported LogQL: printf verb %\+s/)
    expect(refusal('{{ printf "%999999s" .a }}')).toMatch(/the width 999999 is beyond/)
    expect(refusal('{{ printf "%s %s" .a }}')).toMatch(/needs more arguments/)
    expect(refusal('{{ replace .a "x" .b }}')).toMatch(/as anything but a quoted string/)
    expect(refusal('{{ trunc .n .a }}')).toMatch(/as anything but a whole number/)
    expect(refusal('{{ upper }}')).toMatch(/upper takes 1 argument/)
    expect(refusal('{{ .a .b }}')).toMatch(/is not a function/)
    expect(refusal('{{ .a ')).toMatch(/unclosed \{\{/)
    expect(refusal('{{ upper (.a }}')).toMatch(/unclosed \(/)
    expect(refusal('{{ "open }}')).toMatch(/unterminated quoted string/)
    expect(refusal('{{ repeat 1000000 .a }}')).toMatch(/repeat: the count 1000000 is beyond ±100000/)
    expect(refusal('{{ trunc 99999999999999999999 .a }}')).toMatch(/is beyond/)
    expect(refusal('{{ repeat -1 .a }}')).toMatch(/repeat: the count -1 is negative/)
    expect(refusal('{{ alignLeft -3 .a }}')).toMatch(/alignLeft: the width -3 is negative/)
    expect(refusal('{{ () }}')).toMatch(/missing command/)
    expect(refusal('{{ upper | }}')).toMatch(/missing command/)
    expect(refusal('{{ (upper .a) .b }}')).toMatch(/is not a function/)
    expect(refusal('{{ upper __timestamp__ }}')).toMatch(/upper takes strings, not a time/)
    expect(refusal('{{ date "2006" .a }}')).toMatch(/unsupported LogQL: template date of anything but a time/)
    expect(refusal('{{ toDate "2006" .a }}')).toMatch(/unsupported LogQL: template function toDate/)
  })
})
