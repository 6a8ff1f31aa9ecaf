// LogQL templates (line_format, label_format) as ClickHouse expressions, evaluated by embedded
// ClickHouse: each function against what Go's text/template and the Loki documentation's examples
// answer, and a 400 naming what Sluice does not support.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { openTestStore } from '../test-store.js'
import type { TestStore } from '../test-store.js'
import { Params } from './sql.js'
import { compileTemplate } from './template.js'
import { prng as random } from '../loki-fixture.js'

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
  status: '503',
  latency: '0.25',
  bytes: '1536',
  hex: '0x1F',
  octal: '010',
  big: '9223372036854775807',
  word: 'abc',
  whole: '5.00',
  msg: 'user=alice id=42 took 250ms\nuser=bob id=7',
  greek: 'ΟΔΟΣ straße İstanbul ǆungla',
  b64: 'aGVsbG8gd29ybGQ=',
  url: 'a b&c=d/é',
  created: '2021-11-02',
  ts: '2024-03-05T07:08:09.123456789Z',
  clf: '05/Mar/2024:07:08:09 +0100',
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
      // Jan is no month before a lower-case letter; __2 is the day of the year, space-padded; _2006 a _ and a year.
      ['{{ __timestamp__ | date "Janet __2 _2006 Mondays" }}', 'Janet  65 _2024 Tuesdays'],
    ]
    await expectRendered(cases)
    // A whole second prints no fraction with .999…, and 9s cut trailing zeros.
    const whole = BigInt(Date.UTC(2024, 11, 31, 23, 59, 59)) * 1_000_000n
    expect(await render('{{ __timestamp__ }}', whole)).toBe('2024-12-31 23:59:59 +0000 UTC')
    expect(await render('{{ __timestamp__ | date "15:04:05.999" }}', whole + 120_000_000n)).toBe('23:59:59.12')
    expect(await render('{{ date "2006-01-02" now }}')).toBe(new Date().toISOString().slice(0, 10))
  })

  it("rewrites with regular expressions as Go's regexp does (Loki's regexReplaceAll, regexReplaceAllLiteral, count)", async () => {
    const cases: [string, string][] = [
      // The Loki documentation's examples.
      ['{{ regexReplaceAll "(a*)bc" "aabc xbc" "${1}a" }}', 'aaa xa'],
      ['{{ regexReplaceAllLiteral "(ts=)" "ts=1 ts=2" "timestamp=" }}', 'timestamp=1 timestamp=2'],
      ['{{ count "a|b" "abab" }}', '4'],
      ['{{ count "o" "foo" }}', '2'],
      // $1, ${name}; $1x names a group "1x" (none: empty); $$ is a $.
      ['{{ regexReplaceAll "user=(\\\\w+)" .msg "<$1>" }}', '<alice> id=42 took 250ms\n<bob> id=7'],
      ['{{ regexReplaceAll "id=(?P<id>\\\\d+)" .msg "#${id}" }}', 'user=alice #42 took 250ms\nuser=bob #7'],
      ['{{ regexReplaceAll "(\\\\d+)ms" .msg "$1x|${1}x|$$1" }}', 'user=alice id=42 took |250x|$1\nuser=bob id=7'],
      ['{{ regexReplaceAllLiteral "\\\\d+" .msg "$1\\\\" }}', 'user=alice id=$1\\ took $1\\ms\nuser=bob id=$1\\'],
      // . stops at a newline unless (?s), as in Go (ClickHouse's own . would not); anchors and \b read the whole text.
      ['{{ regexReplaceAll "took.*" .msg "…" }}', 'user=alice id=42 …\nuser=bob id=7'],
      ['{{ regexReplaceAll "(?s)took.*" .msg "…" }}', 'user=alice id=42 …'],
      ['{{ regexReplaceAll "^u|\\\\bb" .msg "U" }}', 'User=alice id=42 took 250ms\nuser=Uob id=7'],
      ['{{ regexReplaceAll "(?i)σ|s" .greek "_" }}', 'ΟΔΟ_ _traße İ_tanbul ǆungla'],
      ['{{ __line__ | count "[A-Z]" }}', '8'],
      ['{{ count "\\\\d+" .msg }}', '3'],
    ]
    await expectRendered(cases)
  })

  it('maps case, decodes base64 and URLs as Go and sprig do', async () => {
    const cases: [string, string][] = [
      ['{{ title "hello world" }}', 'Hello World'],
      ['{{ .method | title }}', 'Get'],
      // strings.Title: a word starts after anything but a letter, a digit or _; ǆ's title case is ǅ.
      ['{{ title "o\'neil-smith x_y 3rd" }}', "O'Neil-Smith X_y 3rd"],
      ['{{ title .greek }}', 'ΟΔΟΣ Straße İstanbul ǅungla'],
      // Go maps one code point at a time: ß stays, İ lowers to i, a final Σ to σ.
      ['{{ upper .greek }}', 'ΟΔΟΣ STRAßE İSTANBUL ǄUNGLA'],
      ['{{ lower .greek }}', 'οδοσ straße istanbul ǆungla'],
      ['{{ ToLower "ΑΣ Σ" }}', 'ασ σ'],
      // b64dec prints Go's error for bad input, at the byte Go's decoder stops; newlines are skipped.
      ['{{ .b64 | b64dec }}', 'hello world'],
      ['{{ b64dec "aGk" }}', 'illegal base64 data at input byte 0'],
      ['{{ b64dec "aGk=x" }}', 'illegal base64 data at input byte 4'],
      ['{{ b64dec "a$Gk=" }}', 'illegal base64 data at input byte 1'],
      ['{{ b64dec "aG\\nk=" }}', 'hi'],
      ['{{ urlencode .url }}', 'a+b%26c%3Dd%2F%C3%A9'],
      ['{{ .url | urlencode | urldecode }}', 'a b&c=d/é'],
      ['{{ urldecode "a+b%2Fc%e2%82%ac" }}', 'a b/c€'],
      ['{{ urldecode "100%" }}', 'TemplateFormatErr'],
      ['{{ indent 2 "a\\nb" }}', '  a\n  b'],
      ['{{ nindent 2 "a\\nb" }}', '\n  a\n  b'],
    ]
    await expectRendered(cases)
  })

  it("computes as sprig does: cast's conversions, int64 arithmetic, decimal float arithmetic, Go's number printing", async () => {
    const cases: [string, string][] = [
      // The Loki documentation's examples.
      ['{{ add 3 2 5 }}', '10'],
      ['{{ addf 3.5 2 5 }}', '10.5'],
      ['{{ ceil 123.001 }}', '124'],
      ['{{ div 10 2 }}', '5'],
      ['{{ divf 10 2 4 }}', '1.25'],
      ['{{ "3.5" | float64 }}', '3.5'],
      ['{{ floor 123.9999 }}', '123'],
      ['{{ "3" | int }}', '3'],
      ['{{ max 1 2 3 }}', '3'],
      ['{{ maxf 1 2.5 3 }}', '3'],
      ['{{ min 1 2 3 }}', '1'],
      ['{{ minf 1 2.5 3 }}', '1'],
      ['{{ mul 5 2 3 }}', '30'],
      ['{{ mulf 5.5 2 2.5 }}', '27.5'],
      ['{{ mod 10 3 }}', '1'],
      ['{{ round 123.555555 3 }}', '123.556'],
      ['{{ round 123.88571428571 5 .2 }}', '123.88572'],
      ['{{ sub 5 2 }}', '3'],
      ['{{ subf 5.5 2 1.5 }}', '2'],
      // cast.ToInt64: base prefixes, a leading 0 is octal, _ between digits, a trailing .00 cut; anything else (and overflow) is 0.
      ['{{ add .status 1 }}|{{ int .hex }}|{{ int .octal }}|{{ int .whole }}|{{ int .word }}|{{ int "1_000" }}|{{ int "9223372036854775808" }}', '504|31|8|5|0|1000|0'],
      // int64 wraps; division truncates; the smallest int64 over -1 is itself.
      ['{{ add .big 1 }}|{{ mul .big 2 }}|{{ sub -7 2 | div 2 }}|{{ div -7 2 }}|{{ mod -7 2 }}|{{ div .big -1 }}', '-9223372036854775808|-2|0|-3|-1|-9223372036854775807'],
      ['{{ div .bytes 1024 }} KiB|{{ divf .bytes 1024 }} KiB|{{ mulf .latency 1000 }} ms', '1 KiB|1.5 KiB|250 ms'],
      // addf and friends add decimals (0.1 + 0.2 = 0.3); divf keeps 16 places (1/1e20 is 0).
      ['{{ addf 0.1 0.2 }}|{{ add 0.1 0.2 }}|{{ float64 0.1 | addf 0.2 }}|{{ divf 1 3 }}|{{ divf 2 3 }}|{{ divf 1 1e20 }}', '0.3|0|0.3|0.3333333333333333|0.6666666666666667|0'],
      // Terms far apart in size: the digits below the larger term's 73rd still break a tie (as Go's decimal answers).
      ['{{ addf 1e20 0.1 }}|{{ addf 1e300 1e-300 }}|{{ subf 1e30 1e-30 }}|{{ addf 123456789.123456789 1e-70 -1e-80 }}|{{ addf 9007199254740992 1 1e-80 }}|{{ addf 9007199254740992 1 -1e-80 }}', '1e+20|1e+300|1e+30|1.2345678912345679e+08|9.007199254740994e+15|9.007199254740992e+15'],
      // Terms far apart in size: the digits below the larger term's 73rd still break a tie (as Go's decimal answers).
      ['{{ addf 1e20 0.1 }}|{{ addf 1e300 1e-300 }}|{{ subf 1e30 1e-30 }}|{{ addf 123456789.123456789 1e-70 -1e-80 }}|{{ addf 9007199254740992 1 1e-80 }}|{{ addf 9007199254740992 1 -1e-80 }}', '1e+20|1e+300|1e+30|1.2345678912345679e+08|9.007199254740994e+15|9.007199254740992e+15'],
      // A float64 prints as Go's %v: shortest digits, %e form below 1e-4 and from 1e6; ParseFloat reads hex and inf.
      ['{{ float64 "1e6" }}|{{ float64 "123456.5" }}|{{ float64 "0.00001" }}|{{ float64 "1e21" }}|{{ float64 "-0" }}|{{ float64 "inf" }}|{{ float64 "NaN" }}|{{ float64 "0x1p-2" }}|{{ float64 "1e400" }}', '1e+06|123456.5|1e-05|1e+21|-0|+Inf|NaN|0.25|0'],
      // sprig's round floors every negative number; math.Max of NaN is NaN.
      ['{{ round -1.2 0 }}|{{ round 2.5 0 }}|{{ round 1.005 2 }}|{{ ceil -0.5 }}|{{ maxf .latency "nan" }}|{{ minf -0 0 }}', '-2|3|1|-0|NaN|0'],
      ['{{ if gt (int .status) 499 }}server error{{ else }}ok{{ end }}', 'server error'],
      ['{{ if lt (float64 .latency) 0.5 }}fast{{ end }}', 'fast'],
      ['{{ if int .blank }}set{{ else }}zero{{ end }}', 'zero'],
      ['{{ printf "%d|%5d|%-5d|%05d|%+d" (int .status) (int .status) (int .status) (int .status) (int .status) }}', '503|  503|503  |00503|+503'],
      ['{{ printf "%.2f|%8.3f|%e|%.1E|%v|%6v" (float64 .latency) (divf .bytes 1000) (float64 .bytes) (float64 .latency) (divf .bytes 7) (float64 .latency) }}', '0.25|   1.536|1.536000e+03|2.5E-01|219.42857142857142|  0.25'],
      // %f rounds the float's exact value (2.675 is 2.67499…); infinities print as Go prints them.
      ['{{ printf "%.2f|%f|%5.1f" 2.675 (float64 "inf") (float64 "-inf") }}', '2.67|+Inf| -Inf'],
    ]
    await expectRendered(cases)
  })

  it("runs {{with}} as Go does: . is its value in the first branch, $.label the label; {{else with}} and {{else}}", async () => {
    // Each expected value is what Go's text/template + sprig prints for the same labels.
    const cases: [string, string][] = [
      ['{{ with .method }}m={{ . }}{{ end }}', 'm=get'],
      ['{{ with .blank }}b={{ . }}{{ else }}none{{ end }}', 'none'],
      ['{{ with .missing }}x{{ else with .method }}{{ . | upper }}{{ end }}', 'GET'],
      ['{{ with .status }}{{ . }} {{ $.method }}{{ end }}', '503 get'],
      ['{{ with add .status 1 }}{{ . }}{{ end }}', '504'],
      ['{{ with (int .blank) }}nonzero{{ else }}zero{{ end }}', 'zero'],
      ['{{ $.path }}', 'a b c d e f'],
      ['{{ with .method }}{{ with $.status }}{{ . }}{{ end }}-{{ . }}{{ end }}', '503-get'],
      ['{{ with eq .method "get" }}{{ . }}{{ end }}', 'true'],
      ['{{ with .method }}{{ printf "%s!" . }}{{ end }}', 'get!'],
      ['{{ with .method -}} [{{ . }}] {{- end }}', '[get]'],
      ['{{ with addf .status 0.5 }}{{ . }}{{ end }}', '503.5'],
      // printf prints conditions with %v and %t.
      ['{{ printf "%v|%t|%6v|%-6t|" (eq .method "get") (eq .status "1") (eq .method "get") (eq .blank "") }}', 'true|false|  true|true  |'],
      ['{{ with eq .method "get" }}{{ printf "[%v]" . }}{{ end }}', '[true]'],
      ['{{ printf "%v %v" (and (eq .method "get") (ne .status "503")) (or (contains "b" .path) (eq .a .b)) }}', 'false true'],
      ['{{ if .method }}{{ with .status }}{{ . }}{{ end }}{{ end }}', '503'],
    ]
    await expectRendered(cases)
  })

  it('declares variables as Go does: {{ $x := … }} prints nothing, $x is its value to the end of its block', async () => {
    // Each expected value is what Go's text/template + sprig prints for the same labels.
    const cases: [string, string][] = [
      ['{{ $m := .method }}{{ $m }}-{{ upper $m }}', 'get-GET'],
      ['{{ $s := int .status }}{{ if ge $s 500 }}server{{ else }}ok{{ end }}', 'server'],
      ['{{ if $x := .blank }}set{{ else }}unset:{{ $x }}.{{ end }}', 'unset:.'],
      ['{{ with $v := .method }}{{ $v }}{{ . }}{{ end }}', 'getget'],
      ['{{ $a := .method }}{{ with .status }}{{ $a }}{{ . }}{{ end }}', 'get503'],
      ['{{ $n := add .status 1 }}{{ printf "%d" $n }}', '504'],
      ['{{ $x := .method }}{{ if eq $x "get" }}{{ $y := upper $x }}{{ $y }}{{ end }}', 'GET'],
      ['{{ $t := eq .method "get" }}{{ if $t }}{{ printf "%v" $t }}{{ end }}', 'true'],
      // A declaration runs where it stands: its failure fails the line there, and only there.
      ['{{ $x := div 1 0 }}ok', 'TemplateFormatErr'],
      ['{{ if .blank }}{{ $x := div 1 0 }}{{ end }}ok', 'ok'],
    ]
    await expectRendered(cases)
  })

  it("prints integers in base 2, 8 and 16, as characters and as U+ and strings in hex as Go's fmt does (%b %o %O %x %X %c %U)", async () => {
    // Each expected value is what Go's text/template (go1.26) prints for the same labels.
    const cases: [string, string][] = [
      ['{{ printf "%x|%X|%o|%O|%b" 255 255 8 8 5 }}', 'ff|FF|10|0o10|101'],
      ['{{ printf "%x|%#x|%#X|%#o|%#b" (int .status) (int .status) (int .status) (int .status) (int .status) }}', '1f7|0x1f7|0X1F7|0767|0b111110111'],
      // The sign before the zeros, and the 0 flag's zeros counting it.
      ['{{ printf "%x|%05x|%-6x|%+x|% x|%#08x" -31 -31 -31 31 31 -31 }}', '-1f|-001f|-1f   |+1f| 1f|-0x000001f'],
      // A precision is the least digits (0 of 0 prints nothing); with it, 0 pads with spaces; - pads on the right.
      ['{{ printf "%.4x|%8.3o|%.0x|[%3.0b]" 255 8 0 0 }}', '00ff|     010||[   ]'],
      ['{{ printf "%-05x|%08.3x|%+08b|% 06o" 31 31 5 8 }}', '1f   |     01f|+0000101| 00010'],
      ['{{ printf "%x|%b|%X" -9223372036854775808 -1 9223372036854775807 }}', '-8000000000000000|-1|7FFFFFFFFFFFFFFF'],
      ['{{ printf "%#o|%#x|%O|%#O" 0 0 0 8 }}', '0|0x0|0o0|0o010'],
      // A string's bytes (UTF-8), a precision counting bytes.
      ['{{ printf "%x|%X|%.1x|%8x|%-8x|" .method .accent .accent .method .method }}', '676574|C3A961|c3|  676574|676574  |'],
      ['{{ printf "[%x][%4x]" .blank .blank }}', '[][    ]'],
      // A character (U+FFFD where there is none), and U+ notation (uint64 bits, at least four digits).
      ['{{ printf "%c|%c|%c|%c|%c" 97 233 8364 128512 (int .status) }}', 'a|é|€|😀|Ƿ'],
      ['{{ printf "[%c][%c][%c]" -1 55296 1114112 }}', '[\uFFFD][\uFFFD][\uFFFD]'],
      ['{{ printf "[%3c][%-3c][%03c]" 97 233 97 }}', '[  a][é  ][00a]'],
      ['{{ printf "%U|%U|%.6U|%8U|%-8U|%08U|%U" 97 128512 97 97 97 97 -1 }}', 'U+0061|U+1F600|U+000061|  U+0061|U+0061  |  U+0061|U+FFFFFFFFFFFFFFFF'],
      ['{{ printf "%+U|% U|%.2U" 97 97 97 }}', 'U+0061|U+0061|U+0061'],
    ]
    await expectRendered(cases)
  })

  it("answers text/template's own functions as Go does: len, index, slice, print, println, html, urlquery", async () => {
    // Each expected value is what Go's text/template (go1.26) prints for the same labels.
    const cases: [string, string][] = [
      ['{{ len .method }}|{{ len .accent }}|{{ len .blank }}|{{ .method | len }}', '3|3|0|3'],
      // Spaces between operands where neither is a string.
      ['{{ print .method 1 2 "x" 3 }}', 'get1 2x3'],
      ['{{ print (eq .method "get") 2.5 1.0 }}', 'true 2.5 1'],
      ['{{ print .accent 7 (add 1 2) }}', 'éa7 3'],
      ['{{ println .method 1 }}', 'get 1\n'],
      ['[{{ print }}][{{ println }}]', '[][\n]'],
      [`{{ html "<a href=\\"x\\">'&'</a>" }}`, '&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;'],
      ['{{ urlquery .path }}|{{ urlquery "a b" "c" }}|{{ html .method 1 }}', 'a+b+c+d+e+f|a+bc|get1'],
      // Bytes, as Go indexes a string; out of range fails the line.
      ['{{ slice .method 1 }}|{{ slice .method 1 2 }}|{{ slice .method }}|{{ slice .method 3 3 }}', 'et|e|get|'],
      ['{{ slice .method 2 5 }}', 'TemplateFormatErr'],
      ['{{ slice .method 2 1 }}', 'TemplateFormatErr'],
      ['{{ index .method 1 }}|{{ index .method }}', '101|get'],
      ['{{ index .method 3 }}', 'TemplateFormatErr'],
      ['{{ len 3 }}', 'TemplateFormatErr'],
    ]
    await expectRendered(cases)
  })

  it('assigns variables again as Go does: {{ $x = … }} from there on, and after {{if}}/{{with}} what the branch taken gave', async () => {
    // Each expected value is what Go's text/template (go1.26) prints for the same labels, with
    // sprig's add and div.
    const cases: [string, string][] = [
      ['{{ $x := "a" }}{{ $x = "b" }}{{ $x }}', 'b'],
      ['{{ $a := "x" }}{{ $b := $a }}{{ $a = "y" }}{{ $b }}{{ $a }}', 'xy'],
      ['{{ $x := .method }}{{ if eq .status "503" }}{{ $x = "down" }}{{ end }}{{ $x }}', 'down'],
      ['{{ $x := .method }}{{ if eq .status "200" }}{{ $x = "ok" }}{{ end }}{{ $x }}', 'get'],
      // A variable declared again inside a block is another one, gone at its {{end}}.
      ['{{ $x := "outer" }}{{ if .method }}{{ $x := "inner" }}{{ $x = "inner2" }}{{ $x }} {{ end }}{{ $x }}', 'inner2 outer'],
      ['{{ $s := "other" }}{{ if eq .status "200" }}{{ $s = "ok" }}{{ else if eq .status "503" }}{{ $s = "unavailable" }}{{ else }}{{ $s = "?" }}{{ end }}{{ $s }}', 'unavailable'],
      ['{{ $s := "other" }}{{ if eq .status "200" }}{{ $s = "ok" }}{{ else if eq .status "404" }}{{ $s = "missing" }}{{ else }}{{ $s = "?" }}{{ end }}{{ $s }}', '?'],
      ['{{ $v := "none" }}{{ with .blank }}{{ $v = . }}{{ else }}{{ $v = "empty" }}{{ end }}{{ $v }}', 'empty'],
      ['{{ $v := "none" }}{{ with .method }}{{ $v = . }}{{ else }}{{ $v = "empty" }}{{ end }}{{ $v }}', 'get'],
      // Integers stay integers through the branches (a literal or arithmetic).
      ['{{ $n := 1 }}{{ if eq .method "get" }}{{ $n = add $n 10 }}{{ end }}{{ $n }}', '11'],
      ['{{ $n := 0 }}{{ if eq .status "503" }}{{ $n = 5 }}{{ end }}{{ printf "%03d" $n }}', '005'],
      ['{{ $c := 0 }}{{ if .method }}{{ $c = add $c 1 }}{{ end }}{{ if .status }}{{ $c = add $c 1 }}{{ end }}{{ if .blank }}{{ $c = add $c 1 }}{{ end }}{{ $c }}', '2'],
      // An assignment in a condition runs whichever branch is taken.
      ['{{ $x := "a" }}{{ if $x = .method }}{{ $x }}{{ end }}|{{ $x }}', 'get|get'],
      // It fails where it runs, as a declaration does; one to a variable never declared fails there too.
      ['{{ $x := 1 }}{{ $x = div 1 0 }}ok', 'TemplateFormatErr'],
      ['{{ $x := 1 }}{{ if .blank }}{{ $x = div 1 0 }}{{ end }}ok', 'ok'],
      ['{{ $y = 1 }}', 'TemplateFormatErr'],
    ]
    await expectRendered(cases)
  })

  it("converts as Loki's duration and bytes do: time.ParseDuration's seconds, go-humanize's ParseBytes, float64s Go prints", async () => {
    // Each answer is Go's text/template with the two functions as Loki defines them.
    await expectRendered([
      ['{{ "1h30m" | duration }}', '5400'],
      // Go works in integer nanoseconds: 1.1h is 3960 s exactly, not 1.1 · 3600.
      ['{{ "1.1h" | duration }}|{{ "250ms" | duration }}|{{ "-1.5h" | duration }}|{{ "1.5s" | duration_seconds }}', '3960|0.25|-5400|1.5'],
      ['{{ ".5s" | duration }}|{{ "5.s" | duration }}|{{ "1h.5m" | duration }}|{{ "1.5µs" | duration }}|{{ "0" | duration }}|{{ "-0" | duration }}', '0.5|5|3630|1.5e-06|0|0'],
      // The fraction's digits as Go reads them: while they fit in an int64, then scaled by float64s.
      ['{{ "0.0000123456789012345678901h" | duration }}|{{ "1.0000000001s" | duration }}', '0.044444444|1'],
      ['{{ "2562047h47m16.854775807s" | duration }}|{{ "-2562047h47m16.854775808s" | duration }}', '9.223372036854776e+09|-9.223372036854776e+09'],
      ['{{ "2562047h47m16.854775808s" | duration }}', 'TemplateFormatErr'],
      ['{{ "1hour" | duration }}', 'TemplateFormatErr'],
      ['{{ "00" | duration }}', 'TemplateFormatErr'],
      ['{{ "" | duration }}', 'TemplateFormatErr'],
      // A millisecond count made readable, as users of Loki write it.
      ['{{ if .latency }}{{ .latency | printf "%sms" | duration | printf "%.6f" }}s{{ end }}|{{ "250ms" | duration | printf "%.3f" }}', '0.000250s|0.250'],
      ['{{ "1.5 MiB" | bytes }}|{{ "1,500 kB" | bytes }}|{{ "42mb" | bytes }}|{{ "10" | bytes }}|{{ "0.5b" | bytes }}|{{ "5 KB " | bytes }}', '1.572864e+06|1.5e+06|4.2e+07|10|0|5000'],
      // Go's TrimSpace and ToLower are Unicode's: a no-break space, the Kelvin sign.
      ['{{ "5\u00a0kb" | bytes }}|{{ "5 \u212aB" | bytes }}|{{ "15.99EiB" | bytes }}', '5000|5000|1.8435214858663483e+19'],
      ['{{ divf (.bytes | bytes) 1024 }}KiB', '1.5KiB'],
      ['{{ " 5 KB" | bytes }}', 'TemplateFormatErr'],
      ['{{ "16EiB" | bytes }}', 'TemplateFormatErr'],
      ['{{ "5 zb" | bytes }}', 'TemplateFormatErr'],
      ['{{ "1.2.3kb" | bytes }}', 'TemplateFormatErr'],
    ])
    expect(() => compileTemplate('{{ 5 | bytes }}', { p: new Params(), label: () => "''", line: "''", timestamp: 'now64(9)' })).toThrow(/bytes takes a string/)
  })

  it("parses times as Go's time.ParseInLocation does (toDate, toDateInZone): what does not parse is Go's zero time", async () => {
    const cases: [string, string][] = [
      // The Loki documentation's examples.
      ['{{ toDate "2006-01-02" "2021-11-02" | unixEpoch }}', '1635811200'],
      ['{{ .ts | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}', '1709622489123'],
      ['{{ .created | toDate "2006-01-02" | date "Monday, Jan 2 2006" }}', 'Tuesday, Nov 2 2021'],
      ['{{ .ts | toDate "2006-01-02T15:04:05.999999999Z" | unixEpochNanos }}', '1709622489123456789'],
      ['{{ .clf | toDate "02/Jan/2006:15:04:05 -0700" | date "2006-01-02T15:04:05Z07:00" }}', '2024-03-05T06:08:09Z'],
      // A run of spaces in the layout takes any run in the value; month names in any case; a 12-hour clock.
      ['{{ toDate "Mon Jan _2 15:04:05 2006" "Tue Mar   5 07:08:09 2024" }}', '2024-03-05 07:08:09 +0000 UTC'],
      ['{{ toDate "January 2, 2006 3:04 PM" "march 5, 2024 12:30 AM" | date "2006-01-02 15:04" }}', '2024-03-05 00:30'],
      ['{{ toDate "20060102150405" "20240305070809" | unixEpoch }}', '1709622489'],
      // A wall time daylight saving repeats or skips reads as Go's Date reads it.
      ['{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2024-10-27 02:30" | unixEpoch }}', '1729992600'],
      ['{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2024-03-31 02:30" | unixEpoch }}', '1711848600'],
      // What does not parse (or names a day, an hour out of range) is the zero time.
      ['{{ toDate "2006-01-02" "nope" }}', '0001-01-01 00:00:00 +0000 UTC'],
      ['{{ toDate "2006-01-02" "2021-02-29" | unixEpoch }}', '-62135596800'],
      ['{{ toDate "2006-01-02" "2021-13-01" | date "2006-01-02 Mon 3PM .000" }}', '0001-01-01 Mon 12AM .000'],
      ['{{ toDate "2006-01-02 15:04:05" "2021-11-02 24:00:00" | unixEpochMillis }}', '-62135596800000'],
      // Go holds the year 2300; a DateTime64 does not: Sluice answers such a time as failed.
      ['{{ toDate "2006-01-02" "2300-01-01" | unixEpoch }}', 'TemplateFormatErr'],
      // A day of the year (002, __2) names the month and the day (which must agree where the layout has them too).
      ["{{ toDate \"2006-002\" \"2024-060\" | date \"2006-01-02\" }}|{{ toDate \"2006 __2\" \"2023   5\" | unixEpoch }}", "2024-02-29|1672876800"],
      ["{{ toDate \"2006-01-02 002\" \"2024-03-01 060\" | unixEpoch }}|{{ toDate \"2006-002\" \"2023-366\" | unixEpoch }}", "-62135596800|-62135596800"],
      // A zone abbreviation: in UTC (Loki's server) none but UTC is known, so the time is the wall time in UTC;
      // UTC and GMT are taken first, whatever follows them.
      ["{{ toDate \"Mon Jan _2 15:04:05 MST 2006\" \"Tue Mar  5 13:45:06 PST 2024\" | unixEpoch }}|{{ toDate \"Mon, 02 Jan 2006 15:04:05 MST\" \"Tue, 05 Mar 2024 13:45:06 GMT+5\" | date \"2006-01-02 15:04\" }}", "1709646306|2024-03-05 13:45"],
      ["{{ toDate \"2006-01-02 15:04 MST\" \"2024-03-05 13:45 UTCT\" | unixEpoch }}|{{ toDate \"2006-01-02 15:04 MST\" \"2024-03-05 13:45 ABCDEF\" | unixEpoch }}", "-62135596800|-62135596800"],
    ]
    await expectRendered(cases)
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
      // Integer division by zero panics in Go, as do decimals of infinities and a decimal division by zero.
      ['{{ div 1 0 }}', 'TemplateFormatErr'],
      ['{{ mod .status .word }}', 'TemplateFormatErr'],
      ['{{ divf 1 0 }}', 'TemplateFormatErr'],
      ['{{ addf "inf" 1 }}', 'TemplateFormatErr'],
      ['{{ urldecode "%zz" }}', 'TemplateFormatErr'],
      ['{{ if eq .method "get" }}{{ div 1 .blank }}{{ end }}', 'TemplateFormatErr'],
      // A field of a {{with}}'s value: Go cannot evaluate it, where the branch runs.
      ['{{ with .method }}{{ .status }}{{ end }}', 'TemplateFormatErr'],
      ['{{ with .blank }}{{ .status }}{{ else }}ok{{ end }}', 'ok'],
    ]
    await expectRendered(cases)
  })

  it('runs every template it compiles, whatever the labels hold: no ClickHouse error on any row', async () => {
    const next = random(11)
    const pick = <T>(a: readonly T[]): T => a[Math.floor(next() * a.length)]!
    const VALUES = ['', '0', '-1', '7', '010', '0x1F', '-0b101', '1_000', '5.00', '2.5', '-0', '1e400', '-1e-400', 'inf', 'NaN', '0x1.8p1', '0x1p-2000', '9223372036854775808', '-9223372036854775808', '1.7976931348623157e308', '5e-324', 'abc', 'aGk=', 'a\nG=', '%zz', 'a%2F', 'ß İ Σ ǆ', '\u00ff\n', '2024-03-05 07:08:09.5', '2024-02-30 24:00:00', '1900-01-01 00:00:00', '1h30m', '-2562047h47m16.854775808s', '99999999999999999999h', '0.00000000000000000000000000001h', '1.5 MiB', '16EiB', '1,5 kb\u00a0']
    const FUNCTIONS: [string, number][] = [['add', 2], ['sub', 2], ['mul', 2], ['div', 2], ['mod', 2], ['max', 2], ['min', 3], ['int', 1], ['float64', 1], ['addf', 2], ['subf', 3], ['mulf', 2], ['divf', 2], ['divf', 3], ['maxf', 2], ['minf', 2], ['ceil', 1], ['floor', 1]]
    const number = (depth: number): string => {
      const r = next()
      if (r < 0.35 || depth > 0) return pick(['.a', '.b', '.c'])
      if (r < 0.5) return pick(['0', '3', '-7', '1.5', '1e300', '.25', '-0.0'])
      const [name, arity] = pick(FUNCTIONS)
      return `(${name} ${Array.from({ length: arity }, () => number(depth + 1)).join(' ')})`
    }
    const template = (): string =>
      pick([
        () => `{{ ${number(0)} }}`,
        () => `{{ printf "%.3f|%e|%v" (float64 ${number(0)}) (float64 ${number(0)}) (float64 ${number(0)}) }}`,
        () => `{{ printf "%5d" (int ${number(0)}) }}`,
        () => `{{ printf "%#08x|%+b|%.3o|%X|%-6x|%03c|%.6U" (int ${number(0)}) (int ${number(0)}) (int ${number(0)}) (int ${number(0)}) .a (int ${number(0)}) (int ${number(0)}) }}`,
        () => `{{ len .a }}|{{ slice .a 1 ${pick(['2', '5', '0'])} }}|{{ index .b 0 }}|{{ print .a 1 (int ${number(0)}) }}|{{ html .c }}|{{ urlquery .c 2 }}`,
        () => `{{ round ${number(0)} ${pick(['0', '2', '-3'])} }}`,
        () => `{{ if gt (int ${number(0)}) (int ${number(0)}) }}gt{{ end }}`,
        () => `{{ ${pick(['title', 'upper', 'lower', 'b64dec', 'urldecode', 'urlencode'])} .a }}`,
        () => `{{ regexReplaceAll "(\\\\d+)|x" .a "<$1>" }}{{ count "[a-z]" .b }}`,
        () => `{{ toDate "2006-01-02 15:04:05.999" .a | unixEpochMillis }}|{{ toDateInZone "2006-01-02 15:04:05" "Europe/Paris" .b | date "Mon Jan _2 3PM" }}`,
        () => `{{ with ${number(0)} }}{{ . }}|{{ printf "%v" . }}|{{ $.c }}{{ else with .b }}{{ upper . }}{{ else }}none{{ end }}`,
        () => `{{ $v := ${number(0)} }}{{ if $w := $v }}{{ $w }}{{ else }}{{ printf "%v" $v }}{{ end }}`,
        () => `{{ .a | duration }}|{{ .b | bytes }}|{{ printf "%.2f" (.c | duration_seconds) }}`,
      ])()
    for (let batch = 0; batch < 16; batch++) {
      const p = new Params()
      const columns: string[] = []
      for (let n = 0; n < 5; n++) {
        const labels: Record<string, string> = { a: pick(VALUES), b: pick(VALUES), c: pick(VALUES) }
        const t = compileTemplate(template(), { p, label: (name) => p.bind(labels[name] ?? ''), line: p.bind(''), timestamp: 'now64(9)' })
        columns.push(`length(${t.sql}) + toUInt8(${t.error})`)
      }
      const rs = await ch.client.query({ query: `SELECT ${columns.join(', ')}`, query_params: p.values, format: 'JSONEachRow' })
      expect((await rs.json()).length).toBe(1)
    }
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
    expect(refusal('{{ .path | toJson }}')).toMatch(/unsupported LogQL: template function toJson/)
    // break and continue: only in a range's body (or in a range's else inside another range), and alone.
    expect(refusal('{{ if .a }}{{ continue }}{{ end }}')).toMatch(/\{\{continue\}\} outside \{\{range\}\}/)
    expect(refusal('{{ range .a }}{{ else }}{{ break }}{{ end }}')).toMatch(/\{\{break\}\} outside \{\{range\}\}/)
    expect(refusal('{{ range .a }}{{ break 1 }}{{ end }}')).toMatch(/unexpected "1" in \{\{break\}\}/)
    expect(refusal('{{ true 1 }}')).toMatch(/can't give argument to non-function true/)
    expect(refusal('{{ printf "%s" (eq .a .b) }}')).toMatch(/printf verb %s of a condition \(Go prints %!s\(bool=…\)/)
    expect(refusal('{{ printf "%t" .a }}')).toMatch(/printf verb %t of anything but a condition/)
    expect(refusal('{{ printf "%x" 1.5 }}')).toMatch(/unsupported LogQL: printf verb %x of a float64/)
    expect(refusal('{{ printf "%o" .a }}')).toMatch(/unsupported LogQL: printf verb %o of a string/)
    expect(refusal('{{ printf "%08x" .a }}')).toMatch(/unsupported LogQL: printf verb %08x of a string with a flag other than -/)
    expect(refusal('{{ printf "%#v" .a }}')).toMatch(/unsupported LogQL: printf verb %#v with the flag #/)
    expect(refusal('{{ printf "%c" .a }}')).toMatch(/unsupported LogQL: printf verb %c of anything but an integer/)
    expect(refusal('{{ printf "%#U" 97 }}')).toMatch(/unsupported LogQL: printf verb %#U with the flag #/)
    expect(refusal('{{ . }}')).toMatch(/unsupported LogQL: \{\{\.\}\} outside \{\{with\}\}/)
    expect(refusal('{{ if .a }}{{ $x := 1 }}{{ end }}{{ $x }}')).toMatch(/undefined variable \$x/)
    expect(refusal('{{ $x := "a" }}{{ if .a }}{{ $x = 1.5 }}{{ end }}{{ $x }}')).toMatch(/unsupported LogQL: template variable \$x given values of different types in the branches/)
    expect(refusal('{{ $ }}')).toMatch(/unsupported LogQL: \{\{\$\}\}, the whole label set/)
    expect(refusal('{{ upper := .a }}')).toMatch(/unexpected :=/)
    expect(refusal('{{ with .a }}x{{ else .b }}y{{ end }}')).toMatch(/takes nothing but a with/)
    expect(refusal('{{ with .a }}x')).toMatch(/\{\{with\}\} without \{\{end\}\}/)
    expect(refusal('{{ if .a }}x')).toMatch(/\{\{if\}\} without \{\{end\}\}/)
    expect(refusal('x{{ end }}')).toMatch(/\{\{end\}\} without \{\{if\}\}/)
    expect(refusal('{{ if }}x{{ end }}')).toMatch(/missing condition/)
    expect(refusal('{{ if .a }}x{{ else .b }}y{{ end }}')).toMatch(/takes nothing but an if/)
    expect(refusal('{{ upper (eq .a .b) }}')).toMatch(/upper takes strings, not a condition/)
    expect(refusal('{{ eq .a 5 }}')).toMatch(/unsupported LogQL: template eq of a string and a number/)
    expect(refusal('{{ eq (int .a) 1.5 }}')).toMatch(/unsupported LogQL: template eq of a string and a number, or an integer and a float/)
    expect(refusal('{{ regexReplaceAll "a*" .a "x" }}')).toMatch(/unsupported LogQL: template regexReplaceAll pattern "a\*": a pattern that can match empty text/)
    expect(refusal('{{ count "x|" .a }}')).toMatch(/can match empty text/)
    expect(refusal('{{ regexReplaceAll "(?=a)" .a "x" }}')).toMatch(/pattern "\(\?=a\)": the group/)
    expect(refusal('{{ regexReplaceAll "a**" .a "x" }}')).toMatch(/a nested repetition/)
    expect(refusal('{{ regexReplaceAll "\\\\pX" .a "x" }}')).toMatch(/the class \\p\{X\}/)
    expect(refusal('{{ regexReplaceAll "(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)" .a "$10" }}')).toMatch(/group 10 \(ClickHouse reads \\0 to \\9\)/)
    expect(refusal('{{ .a | regexReplaceAll "e" .b }}')).toMatch(/regexReplaceAll: the replacement as anything but a quoted string/)
    expect(refusal('{{ regexReplaceAll .p .a "x" }}')).toMatch(/regexReplaceAll: the pattern as anything but a quoted string/)
    expect(refusal('{{ upper (add 1 2) }}')).toMatch(/upper takes strings, not a number/)
    expect(refusal('{{ printf "%d" .a }}')).toMatch(/unsupported LogQL: printf verb %d of a string \(Go prints %!d\(string=…\); int converts it\)/)
    expect(refusal('{{ printf "%s" (int .a) }}')).toMatch(/printf verb %s of a number/)
    expect(refusal('{{ printf "%.2f" (int .a) }}')).toMatch(/printf verb %.2f of a int/)
    expect(refusal('{{ round .a 23 }}')).toMatch(/round: the places 23 is beyond ±22/)
    expect(refusal('{{ round .a .p }}')).toMatch(/round: the places as anything but a whole number/)
    expect(refusal('{{ sub 1 }}')).toMatch(/sub takes 2 argument\(s\), got 1/)
    expect(refusal('{{ add __timestamp__ 1 }}')).toMatch(/template add of a time/)
    expect(refusal('{{ add 99999999999999999999 1 }}')).toMatch(/overflows int/)
    expect(refusal('{{ divf (addf .a .b) (mulf .c 1.5) 3 }}'.repeat(4))).toMatch(/ClickHouse function calls, more than one expression takes \(at most 6000\)/)
    expect(refusal('{{ add 010 1 }}')).toMatch(/unsupported LogQL: template number 010 \(a leading 0 is octal in Go\)/)
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
    expect(refusal('{{ trunc 99999999999999999999 .a }}')).toMatch(/overflows int/)
    expect(refusal('{{ repeat -1 .a }}')).toMatch(/repeat: the count -1 is negative/)
    expect(refusal('{{ alignLeft -3 .a }}')).toMatch(/alignLeft: the width -3 is negative/)
    expect(refusal('{{ () }}')).toMatch(/missing command/)
    expect(refusal('{{ upper | }}')).toMatch(/missing command/)
    expect(refusal('{{ (upper .a) .b }}')).toMatch(/is not a function/)
    expect(refusal('{{ upper __timestamp__ }}')).toMatch(/upper takes strings, not a time/)
    expect(refusal('{{ date "2006" .a }}')).toMatch(/unsupported LogQL: template date of anything but a time/)
    expect(refusal('{{ toDateInZone "2006 MST" "Europe/Paris" .a }}')).toMatch(/unsupported LogQL: template toDateInZone layout "2006 MST": a zone abbreviation with the zone Europe\/Paris/)
    expect(refusal('{{ toDate "2006 MSTJan" .a }}')).toMatch(/the zone abbreviation runs into the next field/)
    expect(refusal('{{ toDate "2006 MST" .a }}')).toMatch(/printing a time parsed with a zone as it is/)
    expect(refusal('{{ toDate "2006 __201" .a }}')).toMatch(/the field __2 runs into the next/)
    expect(refusal('{{ toDate "Jan 2" .a }}')).toMatch(/toDate layout "Jan 2": no year/)
    expect(refusal('{{ toDate "2006 106" .a }}')).toMatch(/the field 1 runs into the next/)
    expect(refusal('{{ toDateInZone "2006" "Mars/Base" .a }}')).toMatch(/toDateInZone zone "Mars\/Base"/)
    expect(refusal('{{ toDate "2006-01-02T15:04Z07:00" .a }}')).toMatch(/printing a time parsed with a zone as it is/)
    expect(refusal('{{ toDate .layout .a }}')).toMatch(/toDate: the layout as anything but a quoted string/)
  })
})
