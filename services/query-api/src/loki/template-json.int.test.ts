// LogQL templates' fromJson and range (with fields of JSON maps, len, index, and JSON values passed
// to functions), evaluated by embedded ClickHouse, against what Go answers: each row is a template,
// the JSON label `j` it reads (`lbl` is ["L"]) and what Go 1.26's text/template printed with sprig
// v3.3.0's fromJson and Loki's option missingkey=zero, or TemplateFormatErr where Go's template
// failed. Where ClickHouse cannot read a text as Go does, the query is refused with a 400. Then the
// Loki documentation's example through the Loki API, a label made with one, and the refusals there.
import { once } from 'node:events'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import { limitMessage } from '../guard.js'
import { serveTestLogs } from '../test-store.js'
import type { ServedLogs } from '../test-store.js'
import { Params } from './sql.js'
import { MAX_JSON_DEPTH, compileTemplate } from './template.js'

const NS = 1_000_000_000n
const T0_S = Math.floor(Date.now() / 60_000) * 60 - 3600
const at = (s: number) => (BigInt(T0_S + s) * NS).toString()
// Loki's querier logs the queries it ran as a JSON array in a logfmt field.
const BODIES: [service: string, body: string][] = [
  ['querier', 'level=info msg="finish in prometheus" queries="[{\\"query\\":\\"up\\"},{\\"query\\":\\"rate(x[5m])\\"}]"'],
  ['querier', 'level=info msg="finish in prometheus" queries="[{\\"query\\":\\"sum(y)\\"}]"'],
  ['querier', 'level=info msg="starting"'],
  // A text ClickHouse cannot read as Go does. It is in another field than the querier's: ClickHouse
  // may evaluate a template on lines the query's other filters drop, and so refuse the query.
  ['odd', 'payload="[1e20]"'],
]

// One store per process (chdb binds one data directory): the rows for the API, and ClickHouse for the templates.
let served: ServedLogs
let ch: ClickHouseHandle

beforeAll(async () => {
  const rows = BODIES.map(([ServiceName, Body], n) => ({ id: `fj-${n}`, tenant: 'default', Timestamp: at(n + 1), ObservedTimestamp: at(n + 1), ServiceName, SeverityText: 'INFO', SeverityNumber: 9, Body }))
  served = await serveTestLogs('template-json', 'loki_template_json', rows)
  ch = served.ch
})
afterAll(() => served.close())

const GO: readonly (readonly [template: string, j: string, printed: string])[] = [
  ["{{ fromJson .j }}", "{\"foo\": 55, \"bar\": [1, \"x\", null, true], \"a\": {\"z\": 1.5, \"b\": \"s\"}}", "map[a:map[b:s z:1.5] bar:[1 x <nil> true] foo:55]"],
  ["{{ fromJson .j }}", "{\"k\":\"a b\",\"e\":\"\",\"big\":1e21,\"small\":0.00001,\"u\":\"\\u00e9\\ud83d\\ude00\"}", "map[big:1e+21 e: k:a b small:1e-05 u:é😀]"],
  ["{{ fromJson .j }}", "{\"c\":123456,\"d\":1234567,\"e\":0.0001,\"g\":5e-324,\"h\":1.7976931348623157e308,\"i\":100,\"m\":18446744073709551615}", "map[c:123456 d:1.234567e+06 e:0.0001 g:5e-324 h:1.7976931348623157e+308 i:100 m:1.8446744073709552e+19]"],
  ["{{ fromJson .j }}", "{\"Z\":1,\"a\":2,\"é\":3,\"a b\":4,\"a\\nb\":5,\"\":6}", "map[:6 Z:1 a:2 a\nb:5 a b:4 é:3]"],
  ["{{ fromJson .j }}", "{\"dup\":1,\"x\":2,\"dup\":3}", "map[dup:3 x:2]"],
  ["{{ fromJson .j }}", "[[], {}, [[1, [2]]], {\"a\": {\"b\": {\"c\": null}}}]", "[[] map[] [[1 [2]]] map[a:map[b:map[c:<nil>]]]]"],
  ["{{ fromJson .j }}", "null", "<no value>"],
  ["{{ fromJson .j }}", "not json", "<no value>"],
  ["{{ fromJson .j }}", "[1,]", "<no value>"],
  ["{{ fromJson .j }}", "[1, 2] x", "<no value>"],
  ["{{ fromJson .j }}", " \"str\" ", "str"],
  ["{{ fromJson .j }}", "12345678", "1.2345678e+07"],
  ["{{ fromJson .j }}", "true", "true"],
  ["{{ fromJson .j }}", "1e400", "<no value>"],
  ["{{ fromJson .nolabel }}|{{ .j | fromJson }}", "\"piped\"", "<no value>|piped"],
  ["{{ print (fromJson .j) }}|{{ println (fromJson .j) \"z\" }}", "{\"x\":[1,{\"y\":null}]}", "map[x:[1 map[y:<nil>]]]|map[x:[1 map[y:<nil>]]] z\n"],
  ["{{ print \"a\" (fromJson .j) 1 (fromJson .j) }}", "\"s\"", "as1s"],
  ["{{ print \"a\" (fromJson .j) 1 (fromJson .j) }}", "7", "a7 1 7"],
  ["{{ print (fromJson .j) 1 }}|{{ html (fromJson .j) 1 }}", "null", "<nil> 1|&lt;no value&gt;1"],
  ["{{ html (fromJson .j) }}|{{ urlquery (fromJson .j) }}", "{\"a\":\"<b> & c\"}", "map[a:&lt;b&gt; &amp; c]|map%5Ba%3A%3Cb%3E+%26+c%5D"],
  ["{{ html (fromJson .j) }}|{{ urlquery (fromJson .j) }}", "", "&lt;no value&gt;|%3Cno+value%3E"],
  ["{{ range $q := fromJson .j }} {{ $q.query }} {{ end }}", "[{\"query\":\"up\"},{\"query\":\"rate(x[5m])\"}]", " up  rate(x[5m]) "],
  ["{{ range $q := fromJson .j }}[{{ $q.query }}]{{ end }}", "[{\"query\":\"up\"},{\"query\":5},{\"x\":1}]", "[up][5][<no value>]"],
  ["{{ range $q := fromJson .j }}[{{ $q.query }}]{{ end }}", "[1]", "TemplateFormatErr"],
  ["{{ range $q := fromJson .j }}[{{ $q.query }}]{{ end }}", "[null]", "TemplateFormatErr"],
  ["{{ range $k, $v := fromJson .j }}{{ $k }}={{ $v }};{{ end }}", "{\"b\":2,\"a\":1,\"a\":3}", "a=3;b=2;"],
  ["{{ range $i, $v := fromJson .j }}{{ $i }}={{ $v }};{{ end }}", "[\"x\",\"y\",null,[1]]", "0=x;1=y;2=<no value>;3=[1];"],
  ["{{ range fromJson .j }}{{ . }};{{ else }}empty{{ end }}", "[]", "empty"],
  ["{{ range fromJson .j }}{{ . }};{{ else }}empty{{ end }}", "null", "empty"],
  ["{{ range fromJson .j }}{{ . }};{{ else }}empty{{ end }}", "bad", "empty"],
  ["{{ range fromJson .j }}{{ . }};{{ else }}empty{{ end }}", "5", "TemplateFormatErr"],
  ["{{ range fromJson .j }}{{ . }};{{ else }}empty{{ end }}", "\"str\"", "TemplateFormatErr"],
  ["{{ range .j }}{{ . }}{{ end }}", "abc", "TemplateFormatErr"],
  ["{{ range 3 }}{{ . }};{{ end }}|{{ range $i := 0 }}x{{ else }}none{{ end }}", "", "0;1;2;|none"],
  ["{{ range fromJson .j }}{{ .x }}{{ $.lbl }}{{ end }}", "[{\"x\":1}, {\"y\":2}]", "1[\"L\"]<no value>[\"L\"]"],
  ["{{ range fromJson .j }}{{ .x.y }}{{ end }}", "[{\"x\":{\"y\":\"deep\"}}, {\"x\":null}]", "TemplateFormatErr"],
  ["{{ range $k, $v := fromJson .j }}{{ $k }}:{{ range $v }}<{{ . }}>{{ end }} {{ end }}", "{\"b\":[1,2],\"a\":{\"x\":\"y\",\"w\":null}}", "a:<<no value>><y> b:<1><2> "],
  ["{{ range $x := fromJson .j }}{{ range $y := fromJson $.lbl }}{{ $x }}{{ $y }},{{ end }}{{ end }}", "[1,2]", "1L,2L,"],
  ["{{ range $x := fromJson .j }}{{ if $x }}1{{ else }}0{{ end }}{{ end }}", "[0, 0.5, \"\", \"0\", [], [0], {}, {\"a\":null}, null, false, true]", "01010101001"],
  ["{{ range $i, $e := fromJson .j }}{{ if $i }},{{ end }}{{ $e }}{{ end }}", "[\"a\",\"b\",\"c\"]", "a,b,c"],
  ["{{ range $k, $v := fromJson .j }}{{ $k | upper }}{{ end }}", "{\"é\":1,\"b\":2}", "BÉ"],
  ["{{ with fromJson .j }}{{ .x }}{{ end }}", "{\"x\":{\"y\":[1,2]}}", "map[y:[1 2]]"],
  ["{{ with fromJson .j }}{{ .x.y }}{{ else }}none{{ end }}", "{\"x\":{\"y\":[1,2]}}", "[1 2]"],
  ["{{ with fromJson .j }}{{ . }}{{ else }}none{{ end }}", "[]", "none"],
  ["{{ with $m := fromJson .j }}{{ $m.k }}{{ else with .lbl }}{{ . }}{{ end }}", "{\"k\":\"v\"}", "v"],
  ["{{ with $m := fromJson .j }}{{ $m.k }}{{ else with .lbl }}{{ . }}{{ end }}", "{}", "[\"L\"]"],
  ["{{ $m := fromJson .j }}{{ $m.x.y }}", "{\"x\":{\"y\":[1,2]}}", "[1 2]"],
  ["{{ $m := fromJson .j }}{{ $m.missing }}|{{ $m.x }}|{{ print $m.x }}|{{ print $m.missing }}", "{\"x\":null}", "<no value>|<no value>|<nil>|<nil>"],
  ["{{ $m := fromJson .j }}{{ $m.x.missing }}", "{\"x\":1}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ $m.x.y }}", "{\"x\":null}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ $m.missing.y }}", "{}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ $m.x }}", "null", "<no value>"],
  ["{{ $m := fromJson .j }}{{ $v := $m.a }}{{ $v.b }}|{{ $v }}", "{\"a\":null}", "<no value>|<no value>"],
  ["{{ $m := fromJson .j }}{{ $m.dup }}", "{\"dup\":1,\"dup\":2}", "2"],
  ["{{ $x := fromJson .j }}{{ if $x.a }}{{ $x = fromJson .lbl }}{{ end }}{{ $x }}", "{\"a\":1}", "[L]"],
  ["{{ $.lbl.x }}", "", "TemplateFormatErr"],
  ["{{ len (fromJson .j) }}", "{\"a\":1,\"a\":2,\"b\":3}", "2"],
  ["{{ len (fromJson .j) }}", "[[], 2]", "2"],
  ["{{ len (fromJson .j) }}", "\"héllo\"", "6"],
  ["{{ len (fromJson .j) }}", "5", "TemplateFormatErr"],
  ["{{ len (fromJson .j) }}", "null", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ index $m \"x\" }}|{{ index $m \"missing\" }}|{{ index $m \"a\" \"b\" }}", "{\"x\":1.7,\"a\":{\"b\":\"c\"}}", "1.7|<no value>|c"],
  ["{{ $m := fromJson .j }}{{ index $m 1 }}", "[\"p\",\"q\"]", "q"],
  ["{{ $m := fromJson .j }}{{ index $m 5 }}", "[\"p\",\"q\"]", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ index $m 0 }}", "\"AB\"", "65"],
  ["{{ $m := fromJson .j }}{{ index $m \"x\" }}", "null", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ upper $m.x }}|{{ $m.x | trunc 1 }}|{{ replace \"é\" \"e\" $m.x }}", "{\"x\":\"éa\"}", "ÉA|�|ea"],
  ["{{ $m := fromJson .j }}{{ upper $m.x }}", "{\"x\":1}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ upper $m.x }}", "{}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ add $m.x $m.y }}|{{ addf $m.x 1 }}|{{ sub $m.s 1 }}|{{ add $m.b 1 }}|{{ add $m.n 1 }}|{{ add $m.o 1 }}|{{ add $m.missing 1 }}", "{\"x\":1.9,\"y\":-2.5,\"s\":\"0x10\",\"b\":true,\"n\":null,\"o\":[1]}", "-1|2.9|15|2|1|1|1"],
  ["{{ $m := fromJson .j }}{{ int $m.a }}|{{ float64 $m.a }}|{{ mul 2 $m.a }}|{{ div $m.a 2 }}", "{\"a\":\"12.0\"}", "12|12|24|6"],
  ["{{ $m := fromJson .j }}{{ int $m.a }}|{{ float64 $m.a }}|{{ mul 2 $m.a }}|{{ div $m.a 2 }}", "{\"a\":-7.9}", "-7|-7.9|-14|-3"],
  ["{{ range $k, $v := fromJson .j }}{{ printf \"%s=%v;\" $k $v }}{{ end }}", "{\"a\":1,\"b\":[1,\"x\"],\"c\":null,\"d\":\"s\"}", "a=1;b=[1 x];c=<nil>;d=s;"],
  ["{{ $m := fromJson .j }}{{ printf \"[%-6v][%6v][%.2s][%s]\" $m.a $m.b $m.s $m.s }}", "{\"a\":1.5,\"b\":true,\"s\":\"héllo\"}", "[1.5   ][  true][hé][héllo]"],
  ["{{ $m := fromJson .j }}{{ printf \"%v|%v\" $m.missing (fromJson .nolabel) }}", "{}", "<nil>|<nil>"],
  ["{{ $m := fromJson .j }}{{ default \"d\" $m.x }}|{{ default \"d\" $m.y }}|{{ default \"d\" $m.z }}|{{ default \"d\" $m.w }}|{{ default \"d\" $m.missing }}|{{ default \"d\" $m.o }}", "{\"x\":5,\"y\":0,\"z\":\"\",\"w\":[1],\"o\":{}}", "5|d|d|[1]|d|d"],
  ["{{ $m := fromJson .j }}{{ $m.x | default \"none\" | upper }}", "{\"x\":\"ab\"}", "AB"],
  ["{{ $m := fromJson .j }}{{ $m.x | default \"none\" | upper }}", "{}", "NONE"],
  ["{{ range $q := fromJson .j }}{{ if eq $q.status \"error\" }}E{{ else }}.{{ end }}{{ end }}", "[{\"status\":\"error\"},{\"status\":\"ok\"},{},{\"status\":null}]", "E..."],
  ["{{ range $q := fromJson .j }}{{ if eq $q.status \"error\" }}E{{ else }}.{{ end }}{{ end }}", "[{\"status\":5}]", "TemplateFormatErr"],
  ["{{ range $q := fromJson .j }}{{ if eq $q.n 2.0 }}two{{ else }}.{{ end }}{{ end }}", "[{\"n\":2},{\"n\":2.5},{}]", "two.."],
  ["{{ range $q := fromJson .j }}{{ if eq $q.n 2 }}two{{ else }}x{{ end }}{{ end }}", "[{\"n\":2}]", "TemplateFormatErr"],
  ["{{ range $q := fromJson .j }}{{ if eq $q.n 2 }}two{{ else }}x{{ end }}{{ end }}", "[{}]", "x"],
  ["{{ $m := fromJson .j }}{{ if ne \"a\" $m.k }}ne{{ else }}eq{{ end }}|{{ eq $m.k .lbl }}|{{ ne $m.k \"a\" }}", "{\"k\":\"[\\\"L\\\"]\"}", "ne|true|true"],
  // printf's %f and %e of a decoded number, as Go formats a float64
  ["{{ range $q := fromJson .j }}{{ printf \"%.1f|\" $q.ms }}{{ end }}", "[{\"ms\":12},{\"ms\":0.25},{\"ms\":-3.75},{\"ms\":1e21},{\"ms\":1e-7}]", "12.0|0.2|-3.8|1000000000000000000000.0|0.0|"],
  ["{{ $m := fromJson .j }}{{ printf \"%f %e %E %8.3f|%-8.2f|%+.0f %010.3f % .2e\" $m.a $m.a $m.a $m.a $m.a $m.a $m.a $m.a }}", "{\"a\":3.14159}", "3.141590 3.141590e+00 3.141590E+00    3.142|3.14    |+3 000003.142  3.14e+00"],
  ["{{ $m := fromJson .j }}{{ printf \"%.2f %.2f %.3f\" $m.a $m.b $m.c }}", "{\"a\":2.675,\"b\":0.125,\"c\":18446744073709551615}", "2.67 0.12 18446744073709551616.000"],
  // lt, le, gt and ge with a string or a number written out, and eq, ne, lt, … of two decoded values
  ["{{ range $q := fromJson .j }}{{ if lt $q.ms 250.0 }}fast{{ else }}slow{{ end }} {{ end }}", "[{\"ms\":12},{\"ms\":250},{\"ms\":1e3},{\"ms\":-0.5}]", "fast slow slow fast "],
  ["{{ $m := fromJson .j }}{{ le $m.n 2.5 }} {{ gt $m.n 2.5 }} {{ ge 2.5 $m.n }} {{ lt 2.5 $m.n }}", "{\"n\":2.5}", "true false true false"],
  ["{{ range $q := fromJson .j }}{{ if ge $q.level \"m\" }}{{ $q.level }} {{ end }}{{ end }}", "[{\"level\":\"info\"},{\"level\":\"warn\"},{\"level\":\"Warn\"},{\"level\":\"é\"}]", "warn é "],
  ["{{ $m := fromJson .j }}{{ lt $m.k .lbl }}|{{ gt .lbl $m.k }}", "{\"k\":\"[\\\"K\\\"]\"}", "true|true"],
  ["{{ $m := fromJson .j }}{{ lt $m.n 3 }}", "{\"n\":2}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.n \"3\" }}", "{\"n\":2}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.s 3.0 }}", "{\"s\":\"2\"}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.missing 3.0 }}", "{}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ ge $m.n 0.0 }}", "{\"n\":null}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.b \"x\" }}", "{\"b\":true}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ gt $m.a 0.0 }}", "{\"a\":[1]}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ eq $m.a $m.b }} {{ ne $m.a $m.c }} {{ lt $m.a $m.c }} {{ ge $m.c $m.b }}", "{\"a\":\"x\",\"b\":\"x\",\"c\":\"y\"}", "true true true true"],
  ["{{ $m := fromJson .j }}{{ eq $m.a $m.b }} {{ lt $m.a $m.b }} {{ le $m.a $m.b }} {{ gt $m.b $m.a }}", "{\"a\":2,\"b\":2.0}", "true false true false"],
  ["{{ $m := fromJson .j }}{{ eq $m.a $m.b }} {{ eq $m.t $m.t }} {{ ne $m.t $m.f }}", "{\"a\":null,\"t\":true,\"f\":false}", "true true true"],
  ["{{ $m := fromJson .j }}{{ eq $m.a $m.o }}|{{ eq $m.o $m.missing }}", "{\"a\":null,\"o\":{\"k\":1}}", "false|false"],
  ["{{ $m := fromJson .j }}{{ eq $m.o $m.o }}", "{\"o\":{\"k\":1}}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ eq $m.l $m.o }}", "{\"o\":{\"k\":1},\"l\":[1]}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ eq $m.s $m.n }}", "{\"s\":\"1\",\"n\":1}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.t $m.t }}", "{\"t\":true}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ le $m.a $m.b }}", "{\"a\":null,\"b\":null}", "TemplateFormatErr"],
  ["{{ range $q := fromJson .j }}{{ if gt $q.took $q.limit }}{{ $q.id }} {{ end }}{{ end }}", "[{\"id\":\"a\",\"took\":5,\"limit\":3},{\"id\":\"b\",\"took\":1,\"limit\":3},{\"id\":\"c\",\"took\":3,\"limit\":3}]", "a "],
  // eq with several: true at the first equal one, failing at the first pair Go cannot compare before it
  ["{{ range $q := fromJson .j }}{{ if eq $q.level \"error\" \"fatal\" }}!{{ else }}.{{ end }}{{ end }}", "[{\"level\":\"error\"},{\"level\":\"info\"},{\"level\":\"fatal\"},{},{\"level\":null}]", "!.!.."],
  ["{{ range $q := fromJson .j }}{{ if eq $q.level \"error\" \"fatal\" }}!{{ else }}.{{ end }}{{ end }}", "[{\"level\":3}]", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ eq $m.n 2.0 \"x\" }}|{{ eq $m.s \"abc\" 2 }}|{{ eq \"abc\" $m.t $m.s }}", "{\"n\":2,\"s\":\"abc\",\"t\":null}", "true|true|true"],
  ["{{ $m := fromJson .j }}{{ eq $m.s \"x\" 2 }}", "{\"s\":\"abc\"}", "TemplateFormatErr"],
  // a field of a parenthesised pipeline's value, as Go chains (fromJson .j).a
  ["{{ (fromJson .j).a.b }}|{{ (fromJson .j).missing }}|{{ len (fromJson .j).a.b }}", "{\"a\":{\"b\":[1,2]}}", "[1 2]|<no value>|2"],
  ["{{ range (fromJson .j).items }}{{ . }};{{ end }}|{{ if lt (fromJson .j).n 5.0 }}small{{ end }}", "{\"items\":[\"x\",2,null],\"n\":4}", "x;2;<no value>;|small"],
  ["{{ (fromJson .j).a.b }}", "{\"a\":5}", "TemplateFormatErr"],
  ["{{ (.lbl).x }}", "{}", "TemplateFormatErr"],
  ["{{ print (fromJson .j).n 5.0 }}|{{ print (fromJson .j) .n }}", "{\"n\":4}", "4 5|map[n:4]"],
  // break and continue (Go 1.18), also inside if/else, with, nested ranges and a range's else (where
  // Go's range recovers a break, and a continue is the enclosing range's)
  ["{{ range $e := fromJson .j }}[{{ $e }}]{{ if eq $e \"b\" }}{{ break }}{{ end }}{{ end }}|after", "[\"a\",\"b\",\"c\"]", "[a][b]|after"],
  ["{{ range $e := fromJson .j }}{{ if eq $e \"b\" }}{{ continue }}{{ end }}[{{ $e }}]{{ end }}", "[\"a\",\"b\",\"c\"]", "[a][c]"],
  ["{{ range fromJson .j }}a{{ break }}b{{ end }}|{{ range fromJson .j }}a{{ continue }}b{{ end }}", "[1,2,3]", "a|aaa"],
  ["{{ range $i := 6 }}{{ if eq $i 1 }}{{ continue }}{{ else if eq $i 4 }}{{ break }}{{ else }}{{ $i }}{{ end }}.{{ end }}", "[]", "0.2.3."],
  ["{{ range $a := 3 }}{{ range $b := 3 }}{{ if eq $b 1 }}{{ break }}{{ end }}{{ $a }}{{ $b }} {{ end }}{{ if eq $a 1 }}{{ break }}{{ end }}|{{ end }}", "[]", "00 |10 "],
  ["{{ range $a := 3 }}<{{ range fromJson $.j }}{{ . }}{{ else }}E{{ break }}F{{ end }}>{{ end }}", "[]", "<E><E><E>"],
  ["{{ range $a := 3 }}<{{ range fromJson $.j }}{{ . }}{{ else }}E{{ continue }}F{{ end }}>{{ end }}", "null", "<E<E<E"],
  ["{{ range $e := fromJson .j }}{{ with $e }}{{ if eq . \"x\" }}{{ break }}{{ end }}{{ end }}{{ $e }},{{ end }}", "{\"a\":\"w\",\"b\":\"x\",\"c\":\"y\"}", "w,"],
  ["{{ range $i, $e := fromJson .j }}{{ $e.x }}{{ if $e.y }}{{ break }}{{ end }}{{ end }}", "[{\"x\":1},{\"x\":2},{\"y\":3},5]", "12<no value>"],
  ["{{ range $i, $e := fromJson .j }}{{ $e.x }}{{ if $e.x }}{{ continue }}{{ end }}!{{ end }}", "[{\"x\":1},{\"y\":3},5]", "TemplateFormatErr"],
  ["{{ range $e := fromJson .j }}{{ if eq $e \"b\" }}{{ continue }}{{ end }}{{ $u := upper $e }}{{ $u }}{{ end }}", "[\"a\",\"b\",\"c\"]", "AC"],
  ["{{ range $k, $v := fromJson .j }}{{ if not $v }}{{ continue }}{{ end }}{{ $k }}:{{ $v }} {{ end }}", "{\"a\":\"x\",\"b\":\"\",\"c\":\"y\",\"d\":0,\"e\":null}", "a:x c:y "],
  // a slice's index and each element of a range over an integer are Go ints (a map's key is a string)
  // index (and slice) by a range's key: a slice's index, a map's key
  ["{{ $s := fromJson .j }}{{ range $i, $e := $s }}{{ index $s $i }},{{ end }}|{{ $m := fromJson \"{\\\"a\\\":5}\" }}{{ range $k, $v := $m }}{{ index $m $k }}{{ end }}", "[1,\"x\",null,[2]]", "1,x,<no value>,[2],|5"],
  ["{{ $s := fromJson .j }}{{ range $i, $e := $s }}{{ index $.lbl $i }},{{ end }}", "[\"a\",\"b\"]", "91,34,"],
  // and/or stop at the argument that decides: a later one's failure counts only where it is reached
  ["{{ range fromJson .j }}{{ if and (eq $.lbl \"x\") (eq .a \"y\") }}A{{ end }}{{ if or (ne $.lbl \"x\") (eq .a \"y\") }}O{{ end }}{{ end }}", "[\"s\",{\"a\":1}]", "OO"],
  ["{{ range fromJson .j }}{{ if and (ne $.lbl \"x\") (eq .a \"y\") }}A{{ end }}{{ end }}", "[\"s\"]", "TemplateFormatErr"],
  ["{{ range fromJson .j }}{{ if or (eq . \"s\") (eq .a \"y\") }}O{{ end }}{{ end }}|{{ range fromJson .j }}{{ if or (ne . \"s\") (eq .a \"y\") }}O{{ end }}{{ end }}", "[\"s\"]", "TemplateFormatErr"],
  // a range over an int worked out on the line (len, add, a variable)
  ["{{ range $a := 3 }}{{ range $b := $a }}{{ $a }}{{ $b }} {{ end }};{{ end }}|{{ range $i := len (fromJson .j) }}{{ $i }},{{ end }}", "[7,8,9]", ";10 ;20 21 ;|0,1,2,"],
  ["{{ range (sub 1 (len (fromJson .j))) }}x{{ else }}none{{ end }}|{{ range $i := add 1 (len (fromJson .j)) }}{{ if eq $i 2 }}{{ break }}{{ end }}{{ $i }}{{ end }}", "{\"a\":1,\"b\":2}", "none|01"],
  ["{{ range $i, $e := fromJson .j }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}={{ $e }};{{ end }}", "[\"a\",\"b\",\"c\"]", "0=a;2=c;"],
  ["{{ range $i, $e := fromJson .j }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}={{ $e }};{{ end }}", "{\"a\":1}", "TemplateFormatErr"],
  ["{{ range $i, $e := fromJson .j }}{{ if lt $i 2 }}{{ $i }}{{ end }}{{ end }}|{{ range $i, $e := fromJson .j }}{{ eq $i 1.0 }}{{ end }}", "[7,8,9]", "TemplateFormatErr"],
  ["{{ range $i, $e := fromJson .j }}{{ if lt $i 2 }}{{ $i }}{{ end }}{{ if ge 1 $i }}!{{ end }}{{ end }}", "[7,8,9]", "0!1!"],
  ["{{ range $i, $e := fromJson .j }}{{ range $k, $f := fromJson $.j }}{{ if eq $i $k }}{{ $i }}{{ end }}{{ end }}{{ end }}", "[7,8]", "01"],
  ["{{ range $i, $e := fromJson .j }}{{ eq $i $e }}{{ end }}", "[0,1]", "TemplateFormatErr"],
  ["{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}|{{ range $i := 5 }}{{ if lt $i 2 }}{{ continue }}{{ end }}{{ add $i 10 }}{{ end }}", "[]", "012|121314"],
  // Go's boolean constants; not of a decoded value (empty: nil, "", 0, false, an empty map or slice)
  ["{{ if true }}t{{ end }}{{ if false }}f{{ end }}|{{ true }} {{ not (fromJson .j) }} {{ not (fromJson .j).a }}", "{\"a\":0}", "t|true false true"],
  // a decoded bool compared with a condition: equal when they agree; nil equals neither; Go orders no bools
  ["{{ range $q := fromJson .j }}{{ if eq $q.ok true }}+{{ else if eq $q.ok false }}-{{ else }}?{{ end }}{{ end }}", "[{\"ok\":true},{\"ok\":false},{},{\"ok\":null}]", "+-??"],
  ["{{ $m := fromJson .j }}{{ ne $m.ok (eq .lbl \"[\\\"L\\\"]\") }} {{ eq false $m.ok }}", "{\"ok\":true}", "false false"],
  ["{{ $m := fromJson .j }}{{ eq $m.ok true }}", "{\"ok\":\"true\"}", "TemplateFormatErr"],
  ["{{ $m := fromJson .j }}{{ lt $m.ok true }}", "{\"ok\":false}", "TemplateFormatErr"],
  // variables declared outside a range and given values inside it: carried from one element to the next
  ["{{ $n := 0 }}{{ range $q := fromJson .j }}{{ if eq $q.level \"error\" }}{{ $n = add $n 1 }}{{ end }}{{ end }}{{ $n }} errors", "[{\"level\":\"error\"},{\"level\":\"info\"},{\"level\":\"error\"}]", "2 errors"],
  ["{{ $s := \"\" }}{{ range $i, $e := fromJson .j }}{{ if $i }}{{ $s = printf \"%s,%v\" $s $e }}{{ else }}{{ $s = printf \"%v\" $e }}{{ end }}{{ end }}[{{ $s }}]", "[\"a\",2,null]", "[a,2,<nil>]"],
  ["{{ $last := \"\" }}{{ range $k, $v := fromJson .j }}{{ $last = $k }}{{ end }}{{ $last }}|{{ $m := \"-\" }}{{ range $e := fromJson .j }}{{ $m = $e }}{{ end }}{{ $m }}", "{\"b\":1,\"a\":[2]}", "b|1"],
  ["{{ $last := \"\" }}{{ range $k, $v := fromJson .j }}{{ $last = $k }}{{ end }}{{ $last }}", "[\"x\",\"y\"]", "1"],
  ["{{ $found := false }}{{ range $e := fromJson .j }}{{ if eq $e \"b\" }}{{ $found = true }}{{ break }}{{ end }}{{ end }}{{ $found }}", "[\"a\",\"b\",\"c\"]", "true"],
  ["{{ $n := 0 }}{{ range $e := fromJson .j }}{{ if eq $e \"b\" }}{{ continue }}{{ end }}{{ $n = add $n 1 }}{{ $n }}{{ end }}|{{ $n }}", "[\"a\",\"b\",\"c\"]", "12|2"],
  ["{{ $n := 0 }}{{ range $a := 3 }}{{ range $b := 2 }}{{ $n = add $n 1 }}{{ end }}{{ $n }};{{ end }}{{ $n }}", "[]", "2;4;6;6"],
  ["{{ $s := \"x\" }}{{ range fromJson .j }}{{ $s = \"y\" }}{{ else }}{{ $s = \"none\" }}{{ end }}{{ $s }}", "[]", "none"],
  ["{{ $t := 0.0 }}{{ range $e := fromJson .j }}{{ $t = addf $t $e }}{{ end }}{{ $t }}", "[1.5,2.25,\"x\"]", "3.75"],
  ["{{ $n := 0 }}{{ range $e := fromJson .j }}{{ $n = add $n (index $e 0) }}{{ end }}{{ $n }}", "[[5],[6,7],[]]", "TemplateFormatErr"],
]

/** What the template prints with the label j (and lbl), or TemplateFormatErr where it fails. */
async function render(template: string, j: string): Promise<string> {
  const labels: Record<string, string> = { j, lbl: '["L"]' }
  const p = new Params()
  const t = compileTemplate(template, { p, label: (name) => (name in labels ? p.bind(labels[name]!) : "''"), line: p.bind('line'), timestamp: 'now64(9)' })
  const rs = await ch.client.query({ query: `SELECT ${t.sql} AS out, toUInt8(${t.error}) AS failed`, query_params: p.values, format: 'JSONEachRow' })
  const row = (await rs.json<{ out: string; failed: number }>())[0]!
  return row.failed ? 'TemplateFormatErr' : row.out
}

/** The 400 the API answers for a statement ClickHouse refused, or 'answered'. */
async function refusal(template: string, j: string): Promise<string> {
  try {
    await render(template, j)
    return 'answered'
  } catch (err) {
    return limitMessage(err, { timeoutMs: 1000, maxRowsRead: 0, maxBytesRead: 0 }) ?? `not a 400: ${(err as Error).message.slice(0, 200)}`
  }
}

describe('LogQL templates: fromJson and range', () => {
  it('print, range over, index and pass on JSON values as Go does', async () => {
    for (const [template, j, printed] of GO) expect(await render(template, j), `${template} with j=${j}`).toBe(printed)
  })

  it('refuse with a 400, rather than answer otherwise than Go, a text ClickHouse reads differently', async () => {
    // ClickHouse writes 1e20 as 21 digits it cannot read back; it refuses integers beyond 64 bits
    // and lone surrogate escapes, which Go reads (as a float64, as U+FFFD), and writes -0 and -0.0 as 0.
    expect(await refusal('{{ fromJson .j }}', '{"a":1e20}')).toBe('unsupported LogQL: fromJson of a text with a whole number from 2^64 up to 1e21 written as a float (1e20)')
    expect(await refusal('{{ fromJson .j }}', '[123456789012345678901234]')).toMatch(/^unsupported LogQL: fromJson of a text ClickHouse cannot read as Go does/)
    expect(await refusal('{{ fromJson .j }}', '"\\ud800"')).toMatch(/^unsupported LogQL: fromJson of a text ClickHouse cannot read as Go does/)
    for (const zero of ['[-0]', '{"n": -0.0}', '[1, -0e3]']) expect(await refusal('{{ fromJson .j }}', zero)).toBe('unsupported LogQL: fromJson of a text with a negative zero (-0, -0.0)')
    // Nested deeper than the printer reaches: refused where printed, answered where only read.
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}1${']'.repeat(MAX_JSON_DEPTH + 1)}`
    expect(await refusal('{{ fromJson .j }}', deep)).toBe(`unsupported LogQL: fromJson of JSON nested more than ${MAX_JSON_DEPTH} deep, printed`)
    expect(await render('{{ len (fromJson .j) }}', deep)).toBe('1')
    // printf's %s of anything but a string, which Go prints as %!s(float64=1).
    expect(await refusal('{{ $m := fromJson .j }}{{ printf "%s" $m.a }}', '{"a":1}')).toBe('unsupported LogQL: fromJson of a value printed with printf %s that is no string (Go prints %!s(…); %v prints it)')
    expect(await refusal('{{ range $i := add 100000 (len (fromJson .j)) }}{{ end }}', '[1]')).toBe('unsupported LogQL: template range over an integer above 100000')
    expect(await refusal('{{ $m := fromJson .j }}{{ printf "%.1f" $m.a }}', '{"a":"x"}')).toBe('unsupported LogQL: fromJson of a value printed with printf %f that is no number (Go prints %!f(…); %v prints it)')
    // The same texts are answered where Go's answer does not depend on them.
    expect(await render('{{ fromJson .j }}', '{"a":-0.5,"b":"-0"}')).toBe('map[a:-0.5 b:-0]')
    expect(await render('{{ fromJson .j }}', '["\\ud83d\\ude00", 1e21]')).toBe('[😀 1e+21]')
  })

  it('answers 400 for what it does not compile', () => {
    const refused = (template: string) => {
      try {
        compileTemplate(template, { p: new Params(), label: () => "''", line: 'Body', timestamp: 'Timestamp' })
      } catch (err) {
        return (err as Error).message
      }
      return 'accepted'
    }
    expect(refused('{{ lt (fromJson .j) now }}')).toMatch(/unsupported LogQL: template lt of a fromJson value and a time/)
    expect(refused('{{ ne (fromJson .j) "x" "y" }}')).toMatch(/ne takes 2 argument\(s\), got 3/)
    // A field right after a literal or a function name: Go refuses the first, chains the second to a call.
    expect(refused('{{ "x".a }}')).toMatch(/unsupported LogQL: template field \.a right after "\\"x\\""/)
    expect(refused('{{ fromJson.a }}')).toMatch(/unsupported LogQL: template field \.a right after "fromJson"/)
    expect(refused('{{ printf "%d" (fromJson .j) }}')).toMatch(/unsupported LogQL: printf verb %d of a fromJson value/)
    expect(refused('{{ printf "%.2v" (fromJson .j) }}')).toMatch(/unsupported LogQL: printf verb %.2v of a fromJson value with a flag other than - or, for %v, a precision/)
    expect(refused('{{ $m := fromJson .j }}{{ default 0 $m.x }}')).toMatch(/unsupported LogQL: template default of a fromJson value/)
    expect(refused('{{ slice (fromJson .j) 1 }}')).toMatch(/unsupported LogQL: template slice of a fromJson value/)
    expect(refused('{{ $n := 0 }}{{ range fromJson .j }}{{ $n = "x" }}{{ end }}{{ $n }}')).toMatch(/unsupported LogQL: template variable \$n given a value of another type inside \{\{range\}\}/)
    expect(refused('{{ range $i, $e := fromJson .j }}{{ printf "%.1f" $i }}{{ end }}')).toMatch(/unsupported LogQL: printf verb %.1f of a range's key over a fromJson value/)
    expect(refused('{{ range $i, $e = fromJson .j }}{{ end }}')).toMatch(/unsupported LogQL: \{\{range\}\} assigning to variables/)
    expect(refused('{{ range $i, $e := 3 }}{{ end }}')).toMatch(/can't use 3 to iterate over more than one variable/)
    expect(refused('{{ range fromJson .j }}x')).toMatch(/\{\{range\}\} without \{\{end\}\}/)
    expect(refused('{{ range fromJson .j }}x{{ else }}y')).toMatch(/\{\{range\}\} without \{\{end\}\}/)
    expect(refused('{{ fromJson 1 }}')).toMatch(/fromJson takes a string/)
  })
})

describe('fromJson through the Loki API', () => {
  const get = async (pathname: string, params: Record<string, string>) => {
    const res = await fetch(`${served.baseUrl}${pathname}?${new URLSearchParams(params)}`, { headers: { 'X-Scope-OrgID': 'default' } })
    return { status: res.status, body: await res.text() }
  }

  it("answers the documentation's example: a line per query the querier ran", async () => {
    const query = '{service_name="querier"} |= "finish in prometheus" | logfmt | line_format "{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}"'
    const reply = await get('/loki/api/v1/query_range', { query, start: at(0), end: at(60), direction: 'forward' })
    expect(reply.status, reply.body).toBe(200)
    const lines = (JSON.parse(reply.body) as { data: { result: { values: [string, string][] }[] } }).data.result.flatMap((r) => r.values).sort((a, b) => (a[0] < b[0] ? -1 : 1)).map((v) => v[1])
    expect(lines).toEqual([' up  rate(x[5m]) ', ' sum(y) '])
  })

  it('groups a metric by a label made from a JSON value', async () => {
    const query = 'sum by (n) (count_over_time({service_name="querier"} | logfmt | label_format n="{{ len (fromJson .queries) }}" | __error__="" [10m]))'
    const reply = await get('/loki/api/v1/query', { query, time: at(60) })
    expect(reply.status, reply.body).toBe(200)
    const series = (JSON.parse(reply.body) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result
    // The line without queries fails len (Go's "len of nil"): label_format leaves n unset and marks it.
    expect(Object.fromEntries(series.map((s) => [s.metric.n ?? '', s.value[1]]))).toEqual({ '1': '1', '2': '1' })
  })

  it('answers 400 naming a text it cannot read as Go does, in queries and in the live tail', async () => {
    const query = '{service_name="odd"} | logfmt | line_format "{{ fromJson .payload }}"'
    const reply = await get('/loki/api/v1/query_range', { query, start: at(0), end: at(60) })
    expect(reply.status).toBe(400)
    expect(reply.body).toBe('unsupported LogQL: fromJson of a text with a whole number from 2^64 up to 1e21 written as a float (1e20)')
    const ws = new WebSocket(`${served.baseUrl.replace(/^http/, 'ws')}/loki/api/v1/tail?${new URLSearchParams({ query, start: at(0) })}`, { headers: { 'X-Scope-OrgID': 'default' } })
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer]
    expect(code).toBe(1008)
    expect(reason.toString()).toMatch(/^unsupported LogQL: fromJson of a text with a whole number/)
  })
})
