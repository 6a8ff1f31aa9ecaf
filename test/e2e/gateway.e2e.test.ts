// Gateway against the real broker and registry: health, readiness, metrics, and the 503 path.
import net from 'node:net'
import type { ISocketFactory } from 'kafkajs'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { LogEvent } from '@sluice/core'
import { BatchingProducer, createKafka, ensureTopics } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { createLogger, createRegistry } from '@sluice/observability'
import * as gateway from '@sluice/gateway'
import { isolation, startSluice } from '../infra/sluice.js'

describe('gateway', () => {
  it('serves healthz, readyz (Kafka and registry reachable) and Prometheus metrics', async () => {
    const rt = await startSluice(['gateway'], isolation())
    const gw = rt.addresses.gateway!
    expect((await fetch(`${gw}/healthz`)).status).toBe(200)
    const ready = await fetch(`${gw}/readyz`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', checks: { kafka: 'ok', registry: 'ok' } })
    await fetch(`${gw}/v1/logs`, { method: 'POST', body: JSON.stringify([{ message: 'm' }, { nope: 1 }]), headers: { 'content-type': 'application/json' } })
    const metrics = await (await fetch(`${gw}/metrics`)).text()
    expect(metrics).toMatch(/sluice_gateway_events_received_total 2/)
    expect(metrics).toMatch(/sluice_gateway_events_sent_total 1/)
    expect(metrics).toMatch(/sluice_gateway_events_dropped_total\{reason="invalid"\} 1/)
    expect(metrics).toMatch(/sluice_gateway_produce_seconds_count 1/)
    expect(metrics).toMatch(/process_cpu_seconds_total/)
  })

  it('answers 503 with Retry-After when Kafka becomes unreachable, and 200 again once it is back', async () => {
    const iso = isolation()
    const logger = createLogger({ level: 'silent' })
    // A network cut between the gateway and the broker: open sockets are reset and new
    // connections are refused while `cut` is set. The real kafkajs client code runs throughout.
    let cut = false
    const sockets = new Set<net.Socket>()
    const socketFactory: ISocketFactory = ({ host, port, onConnect }) => {
      const socket = net.connect(cut ? { host: '127.0.0.1', port: 1 } : { host, port }, onConnect)
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      return socket
    }
    const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'gw-503', logger, socketFactory })
    await ensureTopics(kafka, [{ topic: iso.topicRaw, numPartitions: 1, replicationFactor: 1 }])
    const producer = new BatchingProducer(kafka, { produceTimeoutMs: 3000 })
    await producer.connect()
    const codec = await AvroCodec.register<LogEvent>(createRegistryClient(iso.env.SCHEMA_REGISTRY_URL!), `${iso.topicRaw}-value`, loadAvsc('log-event.avsc'))
    const app = gateway.buildApp(gateway.loadConfig(iso.env), { logger, registry: createRegistry({ defaultMetrics: false }), producer, codec, checks: {} })
    onTestFinished(async () => {
      await app.close()
      await producer.close().catch(() => undefined)
    })
    const send = () => app.inject({ method: 'POST', url: '/v1/logs', payload: { message: 'during outage' } })

    expect((await send()).statusCode).toBe(200)
    cut = true
    for (const s of sockets) s.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }))
    const down = await send()
    expect(down.statusCode).toBe(503)
    expect(down.headers['retry-after']).toBe('5')
    expect(down.json()).toMatchObject({ error: 'KAFKA_UNAVAILABLE' })
    cut = false
    let back = await send()
    for (let i = 0; i < 20 && back.statusCode !== 200; i++) back = await send()
    expect(back.statusCode).toBe(200)
  })
})
