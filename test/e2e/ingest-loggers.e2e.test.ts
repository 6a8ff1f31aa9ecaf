// Logger-native JSON end to end, sent by the loggers' own shipping code: pino through a worker
// transport (pino-http-transport) and winston's Http transport, both posting to /v1/logs. Each
// record's service, level, time, message and attributes are read back from ClickHouse through
// the query API.
import { createRequire } from 'node:module'
import pino from 'pino'
import winston from 'winston'
import { describe, expect, it, onTestFinished } from 'vitest'
import type { StoredLog } from '../infra/logs.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

async function logsOf(queryApi: string, service: string, count: number): Promise<StoredLog[]> {
  return waitFor(`${count} logs of ${service}`, async () => {
    const { logs } = (await (await fetch(`${queryApi}/v1/logs?service=${service}&limit=100`)).json()) as { logs: StoredLog[] }
    return logs.length >= count ? logs : undefined
  })
}

const byMessage = (logs: StoredLog[]) => new Map(logs.map((l) => [l.message, l]))
/** The query API's timestamp (nanosecond ISO) of an epoch-ms time. */
const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000000Z')

describe('logger-native JSON from real loggers', () => {
  it('stores pino output sent through a pino transport, levels on the pino scale', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 60_000
    let tick = 0
    const transport = pino.transport({
      target: createRequire(import.meta.url).resolve('pino-http-transport'),
      options: { url: `${rt.addresses.gateway}/v1/logs`, batchSize: 4, batchInterval: 50, silent: true },
    })
    onTestFinished(() => new Promise<void>((resolve) => {
      transport.on('close', resolve)
      transport.end()
    }))
    await new Promise((resolve) => transport.once('ready', resolve))
    const logger = pino({ name: 'checkout', level: 'trace', timestamp: () => `,"time":${baseMs + tick++}` }, transport)
    logger.trace('trace line')
    logger.debug('debug line')
    logger.info({ orderId: 'o-1', cart: { items: 3 } }, 'order paid')
    logger.warn('slow payment')
    logger.error({ err: new Error('db down') }, 'could not pay')
    logger.fatal('shutting down')

    const logs = byMessage(await logsOf(rt.addresses['query-api']!, 'checkout', 6))
    expect([...logs.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual([
      ['could not pay', 'ERROR'],
      ['debug line', 'DEBUG'],
      ['order paid', 'INFO'],
      ['shutting down', 'FATAL'],
      ['slow payment', 'WARN'],
      ['trace line', 'TRACE'],
    ])
    const paid = logs.get('order paid')!
    expect(paid).toMatchObject({ host: expect.any(String), attributes: { orderId: 'o-1', 'cart.items': '3', 'log.level': '30' } })
    // pino's own epoch-ms `time`: every record at the time the logger gave it, in call order.
    const calls = ['trace line', 'debug line', 'order paid', 'slow payment', 'could not pay', 'shutting down']
    const times = calls.map((m) => logs.get(m)!.timestamp)
    expect(times).toEqual([...times].sort())
    expect(times.every((t) => t >= iso(baseMs) && t <= iso(baseMs + tick))).toBe(true)
    expect(Number(paid.resource['process.pid'])).toBe(process.pid)
    expect(logs.get('could not pay')!.attributes).toMatchObject({ 'err.type': 'Error', 'err.message': 'db down', 'log.level': '50' })
  })

  it('stores winston JSON sent by its Http transport, npm levels mapped', async () => {
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation())
    const gateway = new URL(rt.addresses.gateway!)
    const http = new winston.transports.Http({
      host: gateway.hostname,
      port: Number(gateway.port),
      path: '/v1/logs',
      headers: { 'content-type': 'application/json' },
      batch: true,
      batchCount: 5,
      batchInterval: 50,
    })
    const logger = winston.createLogger({ level: 'silly', format: winston.format.combine(winston.format.timestamp(), winston.format.json()), defaultMeta: { service: 'billing' }, transports: [http] })
    const before = Date.now()
    logger.error('charge failed', { code: 'E_CARD', card: { brand: 'visa' } })
    logger.warn('retrying')
    logger.info('charged')
    logger.http('POST /charge 200')
    logger.verbose('verbose detail')
    logger.debug('debug detail')
    logger.silly('silly detail')

    const logs = byMessage(await logsOf(rt.addresses['query-api']!, 'billing', 7))
    expect([...logs.values()].map((l) => [l.message, l.severity_text]).sort()).toEqual([
      ['POST /charge 200', 'DEBUG'],
      ['charge failed', 'ERROR'],
      ['charged', 'INFO'],
      ['debug detail', 'DEBUG'],
      ['retrying', 'WARN'],
      ['silly detail', 'TRACE'],
      ['verbose detail', 'TRACE'],
    ])
    const failed = logs.get('charge failed')!
    expect(failed.attributes).toMatchObject({ code: 'E_CARD', 'card.brand': 'visa' })
    expect(failed.attributes['log.level']).toBeUndefined()
    expect(logs.get('POST /charge 200')!.attributes['log.level']).toBe('http')
    expect(Date.parse(failed.timestamp.replace(/\d{6}Z$/, 'Z'))).toBeGreaterThanOrEqual(before - 1)
    logger.close()
  })
})
