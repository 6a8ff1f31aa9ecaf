// The Beats protocol end to end (the gateway's BEATS_PORT listener), sent by go-lumber's client v2,
// the library libbeat's `logstash` output is built on (test/shippers/beats-go, at the version Beats
// pins, built from the Go module proxy): Filebeat's events (ECS: @timestamp, message, host, log,
// input, agent, @metadata) in windows of three, zlib-compressed at libbeat's default level and
// plain, each window waiting for the gateway's ACK. Each record's message, level, service, host,
// time, attributes, source and tenant (BEATS_TENANT) are read back from ClickHouse through the query
// API. Keep-alives, Kafka failures, broken streams and allowed sources are the unit tests'
// (services/gateway/src/beats.test.ts).
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { goShipper } from '../infra/go-shipper.js'
import { isoNs, logsOf } from '../infra/logs.js'
import { freePort } from '../infra/ports.js'
import { isolation, startSluice } from '../infra/sluice.js'

const run = promisify(execFile)
const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const
// Recent times (older ones would fall outside the table's TTL), to the millisecond as a Beat writes them.
const BASE_MS = Math.floor(Date.now() / 1000) * 1000 - 120_000

let client = ''

/** Runs sluice-beats-go with `flags`, the events on its stdin; rejects with its stderr when it exits non-zero. */
async function beatsGo(port: number, flags: string[], events: object[]): Promise<string> {
  const child = run(client, ['-addr', `127.0.0.1:${port}`, ...flags], { timeout: 60_000 })
  child.child.stdin!.end(events.map((e) => JSON.stringify(e)).join('\n'))
  const { stdout, stderr } = await child
  return stdout + stderr
}

/** An event as Filebeat's filestream input and libbeat write it for output.logstash. */
const filebeat = (i: number, message: string, extra: Record<string, unknown> = {}) => ({
  '@timestamp': new Date(BASE_MS + i * 1000 + 123).toISOString(),
  '@metadata': { beat: 'filebeat', type: '_doc', version: '8.15.0' },
  message,
  host: { name: 'web-7', hostname: 'web-7', os: { family: 'debian' } },
  log: { file: { path: '/var/log/checkout/app.log' }, offset: i * 100 },
  input: { type: 'filestream' },
  agent: { type: 'filebeat', version: '8.15.0', name: 'web-7' },
  ecs: { version: '8.0.0' },
  service: { name: 'checkout' },
  ...extra,
})

describe('Beats protocol end to end', () => {
  beforeAll(async () => {
    client = await goShipper('beats-go')
  }, 600_000)

  it("stores what go-lumber's client sends as libbeat's logstash output does: compressed and plain windows, each acknowledged", async () => {
    const port = await freePort()
    const tenant = 'beats-fleet'
    const rt = await startSluice([...TARGETS], isolation({ BEATS_PORT: String(port), BEATS_TENANT: tenant }))
    const q = rt.addresses['query-api']!
    // libbeat's defaults: zlib level 3; windows of three here so that two go out.
    expect(
      await beatsGo(port, ['-batch', '3', '-compress', '3'], [
        filebeat(0, 'order o-1 placed'),
        filebeat(1, 'payment declined for o-1', { log: { level: 'error', file: { path: '/var/log/checkout/app.log' } } }),
        filebeat(2, 'retrying the payment gateway', { log: { level: 'warn' } }),
        filebeat(3, 'order o-2 placed'),
        filebeat(4, 'cart <b>saved</b> & shared'),
      ]),
    ).toBe('')
    expect(await beatsGo(port, ['-batch', '2', '-compress', '0'], [filebeat(5, 'plain window, first'), filebeat(6, 'plain window, second', { fields: { team: 'payments' } })])).toBe('')

    const logs = await logsOf(q, 'checkout', 7, undefined, tenant)
    expect(logs.get('order o-1 placed')).toMatchObject({ tenant, host: 'web-7', severity_text: 'INFO', source: 'beats', timestamp: isoNs(BASE_MS + 123) })
    expect(logs.get('payment declined for o-1')).toMatchObject({ severity_text: 'ERROR', timestamp: isoNs(BASE_MS + 1123) })
    expect(logs.get('retrying the payment gateway')).toMatchObject({ severity_text: 'WARN' })
    // libbeat writes <, > and & as they are (escape_html: false).
    expect(logs.has('cart <b>saved</b> & shared')).toBe(true)
    expect(logs.get('plain window, second')!.attributes).toMatchObject({ 'fields.team': 'payments' })
    const attributes = logs.get('order o-1 placed')!.attributes
    expect(attributes).toMatchObject({ 'log.file.path': '/var/log/checkout/app.log', 'log.offset': '0', 'input.type': 'filestream', 'agent.type': 'filebeat', 'host.hostname': 'web-7', 'host.os.family': 'debian' })
    // The Beat's pipeline metadata is left out, as Logstash leaves it out of its outputs.
    expect(Object.keys(attributes).filter((k) => k.startsWith('@metadata'))).toEqual([])
  })
})
