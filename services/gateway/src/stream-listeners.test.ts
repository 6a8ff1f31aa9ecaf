// The stream listeners' own guard: a protocol whose datagram reader throws (a bug) loses that
// datagram, counted and logged, and the listener reads on. The protocols' behaviour is in
// syslog.test.ts and gelf.test.ts.
import { once } from 'node:events'
import dgram from 'node:dgram'
import { pino } from 'pino'
import { describe, expect, it, onTestFinished } from 'vitest'
import { createRegistry } from '@sluice/observability'
import { loadConfig } from './config.js'
import { createIngest } from './ingest.js'
import { tenantRule } from './protocol.js'
import { startStreamListeners } from './stream-listeners.js'
import { decoded, fakeProducer, jsonCodec } from './test-fakes.js'

describe('stream listeners', () => {
  it("drops a datagram the protocol's reader throws on, logged and counted, and reads the next", async () => {
    const config = loadConfig({ TOPIC_LOGS_RAW: 'raw', HOST: '127.0.0.1' })
    const producer = fakeProducer()
    const registry = createRegistry({ defaultMetrics: false })
    const lines: Array<Record<string, unknown>> = []
    const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) })
    const probe = dgram.createSocket('udp4')
    probe.bind(0, '127.0.0.1')
    await once(probe, 'listening')
    const port = probe.address().port
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const l = await startStreamListeners({ config, ingest: createIngest(config, { producer, codec: jsonCodec, registry }), log, registry, tenantOf: tenantRule(config) }, {
      name: 'gelf',
      names: { title: 'Test' },
      tcpPort: 0,
      udpPort: port,
      tenant: 'default',
      allowedSources: [],
      env: { sources: 'S', tcpPort: 'T', udpPort: 'U' },
      toRecord: (text, _from, _nowMs, id) => ({ id, service: 'svc', message: text }),
      datagram: (msg) => {
        if (msg.toString() === 'boom') throw new Error('a reader bug')
        return msg
      },
    })
    onTestFinished(() => l.close())
    const client = dgram.createSocket('udp4')
    onTestFinished(() => void client.close())
    for (const m of ['boom', 'fine']) await new Promise<void>((resolve, reject) => client.send(m, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())))
    const deadline = Date.now() + 5000
    while (producer.sent.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
    expect(producer.sent.flatMap((s) => s.messages.map((m) => decoded(m).message))).toEqual(['fine'])
    expect(l.counts()).toMatchObject({ received: { udp: 2 }, dropped: { invalid: 1 } })
    expect(lines.some((x) => x.msg === 'gelf: could not read a datagram; dropped' && (x.err as { message: string }).message === 'a reader bug')).toBe(true)
  })
})
