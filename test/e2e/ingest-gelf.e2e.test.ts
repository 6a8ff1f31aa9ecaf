// GELF end to end (the gateway's GELF_UDP_PORT and GELF_TCP_PORT listeners and POST /gelf), sent by
// the real client libraries:
//   - go-gelf, which Docker's `gelf` logging driver is built on (test/shippers/gelf-go, the module
//     and commit Docker pins, built from the Go module proxy by test/shippers/build-go.sh): Docker's
//     additional fields, over UDP with each compression the driver offers (gzip, its default; zlib;
//     none) — a message longer than a datagram as the library's chunks — and over TCP;
//   - pygelf behind Python's `logging` (test/shippers/gelf-python, in a virtualenv of its own):
//     GelfHttpHandler (a zlib body labelled `gzip,deflate`), GelfUdpHandler (zlib, chunked) and
//     GelfTcpHandler.
// Each record's message, level, service, host, time, attributes, source and tenant (GELF_TENANT
// for UDP and TCP, the request's for HTTP) are read back from ClickHouse through the query API.
// Chunks out of order, chunks that never complete, bad messages and allowed sources are the unit
// tests' (services/gateway/src/gelf.test.ts).
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import path from 'node:path'
import { promisify } from 'node:util'
import { beforeAll, describe, expect, it } from 'vitest'
import { isoSecNs, logsOf } from '../infra/logs.js'
import { goShipper } from '../infra/go-shipper.js'
import { freePort } from '../infra/ports.js'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'
import { isolation, startSluice } from '../infra/sluice.js'

const run = promisify(execFile)
const TARGETS = ['gateway', 'enricher', 'clickhouse-sink', 'query-api'] as const

// Recent whole seconds (older times would fall outside the table's TTL).
const BASE = Math.floor(Date.now() / 1000) - 120

let goClient = ''

interface GoLine {
  host?: string
  short: string
  full?: string
  time?: number
  level?: number
  extra?: Record<string, unknown>
}

/** Runs sluice-gelf-go with `flags`, the `lines` on its stdin; rejects with its stderr when it exits non-zero. */
async function gelfGo(port: number, flags: string[], lines: GoLine[]): Promise<string> {
  const child = run(goClient, ['-addr', `127.0.0.1:${port}`, ...flags], { timeout: 60_000 })
  child.child.stdin!.end(lines.map((l) => JSON.stringify(l)).join('\n'))
  const { stdout, stderr } = await child
  return stdout + stderr
}

/** A UDP port and a TCP port of the same number, both free. */
async function gelfPort(): Promise<number> {
  for (;;) {
    const port = await freePort()
    const free = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4')
      s.once('error', () => resolve(false))
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (free) return port
  }
}

describe('GELF end to end', () => {
  beforeAll(async () => {
    ;[goClient] = await Promise.all([goShipper('gelf-go'), pythonVenv('gelf-python', 'test/shippers/gelf-python/requirements.txt')])
  }, 600_000)

  it("stores what go-gelf sends as Docker's gelf driver does: UDP gzip (chunked when long), zlib and plain, and TCP", async () => {
    const port = await gelfPort()
    const tenant = 'gelf-docker'
    const rt = await startSluice([...TARGETS], isolation({ GELF_UDP_PORT: String(port), GELF_TCP_PORT: String(port), GELF_TENANT: tenant }))
    const q = rt.addresses['query-api']!
    // What the driver adds to each line (daemon/logger/gelf): the container's and image's names and ids, the command, the tag.
    const docker = (name: string) => ({ _container_id: 'c0ffee11', _container_name: name, _image_id: 'sha256:ab12', _image_name: 'shop/api:1.4', _command: 'node server.js', _tag: 'c0ffee11', _created: '2026-12-07T10:00:00Z' })
    // Random hex compresses to about half: ~10 KB of gzip, seven or eight of the library's 1420-byte chunks.
    const long = `dump ${randomBytes(10_000).toString('hex')}`
    expect(
      await gelfGo(port, [], [
        { host: 'node-1', short: 'listening on :8080', time: BASE + 0.25, level: 6, extra: docker('api-1') },
        { host: 'node-1', short: 'upstream timed out', time: BASE + 1.5, level: 3, extra: docker('api-1') },
        { host: 'node-1', short: long, time: BASE + 2, level: 7, extra: docker('api-1') },
      ]),
    ).toBe('')
    expect(await gelfGo(port, ['-compress', 'zlib'], [{ host: 'node-2', short: 'zlib datagram', time: BASE + 3, level: 4, extra: docker('api-2') }])).toBe('')
    expect(await gelfGo(port, ['-compress', 'none'], [{ host: 'node-2', short: 'plain datagram', time: BASE + 3.125, level: 5, extra: docker('api-2') }])).toBe('')
    expect(
      await gelfGo(port, ['-transport', 'tcp'], [
        { host: 'node-3', short: 'over tcp, first', full: 'Error: boom\n    at main.js:1', time: BASE + 4, level: 2, extra: docker('api-3') },
        { host: 'node-3', short: 'over tcp, second', time: BASE + 5, level: 6, extra: { ...docker('api-3'), _request_id: 'r-1', _bytes: 512 } },
      ]),
    ).toBe('')

    const api1 = await logsOf(q, 'api-1', 3, undefined, tenant)
    expect(api1.get('listening on :8080')).toMatchObject({ tenant, host: 'node-1', severity_text: 'INFO', timestamp: isoSecNs(BASE, 250_000_000), source: 'gelf' })
    expect(api1.get('upstream timed out')).toMatchObject({ severity_text: 'ERROR', timestamp: isoSecNs(BASE + 1, 500_000_000) })
    // The chunked message whole.
    expect(api1.get(long) !== undefined).toBe(true)
    expect(api1.get(long)).toMatchObject({ severity_text: 'DEBUG', timestamp: isoSecNs(BASE + 2) })
    for (const l of api1.values()) {
      // _container_name names the service, and stays an attribute as a document's container_name does.
      expect(l.attributes).toEqual({ container_id: 'c0ffee11', container_name: 'api-1', image_id: 'sha256:ab12', image_name: 'shop/api:1.4', command: 'node server.js', tag: 'c0ffee11', created: '2026-12-07T10:00:00Z' })
    }
    const api2 = await logsOf(q, 'api-2', 2, undefined, tenant)
    expect(api2.get('zlib datagram')).toMatchObject({ host: 'node-2', severity_text: 'WARN', timestamp: isoSecNs(BASE + 3) })
    expect(api2.get('plain datagram')).toMatchObject({ severity_text: 'INFO', timestamp: isoSecNs(BASE + 3, 125_000_000) })
    const api3 = await logsOf(q, 'api-3', 2, undefined, tenant)
    expect(api3.get('over tcp, first')).toMatchObject({ host: 'node-3', severity_text: 'FATAL', timestamp: isoSecNs(BASE + 4), attributes: { full_message: 'Error: boom\n    at main.js:1' } })
    expect(api3.get('over tcp, second')!.attributes).toMatchObject({ request_id: 'r-1', bytes: '512' })
  })

  it('stores what pygelf sends from logging: GelfHttpHandler (zlib, labelled gzip,deflate), GelfUdpHandler (zlib, chunked) and GelfTcpHandler', async () => {
    const python = await pythonVenv('gelf-python', 'test/shippers/gelf-python/requirements.txt')
    const port = await gelfPort()
    // No GELF_TENANT: the gateway's default tenant, as the HTTP requests' (no header).
    const rt = await startSluice([...TARGETS], isolation({ GELF_UDP_PORT: String(port), GELF_TCP_PORT: String(port) }))
    const q = rt.addresses['query-api']!
    const http = Number(new URL(rt.addresses.gateway!).port)
    const before = Date.now()
    const { stdout, stderr } = await run(python, [path.join(REPO_ROOT, 'test/shippers/gelf-python/send_logs.py'), '127.0.0.1', String(port), String(http)], { timeout: 60_000 })
    expect(stdout + stderr).toBe('')

    const dump = `cart dump ${Array.from({ length: 4000 }, (_, i) => String(i).padStart(5, '0')).join('')}`
    for (const [service, source, n] of [['py-http', 'http', 3], ['py-udp', 'gelf', 4], ['py-tcp', 'gelf', 3]] as const) {
      const logs = await logsOf(q, service, n, undefined, 'default')
      // `extra` as additional fields (the LogRecord's stack_info, null, is left out); `_app` names
      // the service and stays an attribute, as a document's `app` does.
      expect(logs.get('order o-1 accepted')).toMatchObject({ tenant: 'default', source, host: expect.any(String), severity_text: 'INFO' })
      expect(logs.get('order o-1 accepted')!.attributes).toEqual({ order_id: 'o-1', amount: '12.5', app: service })
      expect(logs.get('stock low for sku-9')).toMatchObject({ severity_text: 'WARN', attributes: { sku: 'sku-9', app: service } })
      expect(logs.get('payment gateway unreachable')).toMatchObject({ severity_text: 'ERROR', attributes: { app: service } })
      // The LogRecord's `created`, in seconds with a fraction.
      for (const l of logs.values()) expect(Date.parse(l.timestamp)).toBeGreaterThanOrEqual(before - 1000)
      if (service === 'py-udp') expect(logs.get(dump)).toMatchObject({ severity_text: 'DEBUG' })
    }
  })
})
