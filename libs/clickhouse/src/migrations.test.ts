import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createClient } from '@clickhouse/client'
import { SluiceError } from '@sluice/core'
import { MIN_CLICKHOUSE_VERSION, migrate, versionAtLeast } from './migrations.js'

describe('versionAtLeast', () => {
  it('compares version() answers part by part, as numbers', () => {
    expect(versionAtLeast('26.7.2.1', '26.2')).toBe(true)
    expect(versionAtLeast('26.2.1.1', '26.2')).toBe(true)
    expect(versionAtLeast('26.10.1.1', '26.2')).toBe(true)
    expect(versionAtLeast('27.1.1.1', '26.2')).toBe(true)
    expect(versionAtLeast('26.1.9.9', '26.2')).toBe(false)
    expect(versionAtLeast('25.8.12.1', '26.2')).toBe(false)
    expect(versionAtLeast('', '26.2')).toBe(false)
  })
})

describe('migrate on an older ClickHouse server', () => {
  const closers: Array<() => void> = []
  afterEach(() => closers.splice(0).forEach((close) => close()))

  it('refuses before changing anything, naming both versions, and is not retried', async () => {
    // ClickHouse's HTTP interface as far as migrate() gets: the answer to SELECT version().
    const queries: string[] = []
    const server = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () => {
        queries.push(new URL(req.url ?? '/', 'http://x').searchParams.get('query') ?? body)
        res.writeHead(200, { 'content-type': 'application/x-ndjson', 'x-clickhouse-format': 'JSONEachRow' })
        res.end('{"version":"25.8.4.13"}\n')
      })
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    closers.push(() => server.close())
    const client = createClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })
    closers.push(() => void client.close())
    const err = await migrate(client, { database: 'db', ttlDays: 7, dir: 'schemas/clickhouse' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(SluiceError)
    expect((err as SluiceError).code).toBe('MIGRATION_FAILED')
    expect((err as SluiceError).canRetry).toBe(false)
    expect((err as Error).message).toContain(`ClickHouse 25.8.4.13 is older than ${MIN_CLICKHOUSE_VERSION}`)
    expect(queries).toHaveLength(1)
    expect(queries[0]).toContain('version()')
  })
})
