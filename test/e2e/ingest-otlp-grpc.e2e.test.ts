// OTLP/gRPC end to end with the OpenTelemetry Python SDK, whose default protocol is gRPC: a Python
// service logging through the standard `logging` module with the SDK's LoggingHandler and its
// OTLP/gRPC exporter (test/shippers/otel-python, in a virtualenv of its own) points at the
// gateway's GATEWAY_OTLP_GRPC_PORT; the records go through Kafka, the enricher and the ClickHouse
// sink and are read back from the query API as Python logged them. (The JS SDK's gRPC exporter is
// in the gateway's own tests, the Collector's in ingest-collector.e2e.test.ts.)
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { queryLogs } from '../infra/logs.js'
import { freePort } from '../infra/ports.js'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'
import { isolation, startSluice, waitFor } from '../infra/sluice.js'

const run = promisify(execFile)

describe('OTLP/gRPC end to end', () => {
  it("stores what a Python service logs through the OpenTelemetry SDK's gRPC exporter", async () => {
    const python = await pythonVenv('otel-python', 'test/shippers/otel-python/requirements.txt')
    const port = await freePort()
    const rt = await startSluice(['gateway', 'enricher', 'clickhouse-sink', 'query-api'], isolation({ GATEWAY_OTLP_GRPC_PORT: String(port) }))
    const q = rt.addresses['query-api']!
    const tenant = 'otel-python'
    const service = 'py-payments'

    const { stdout, stderr } = await run(python, [path.join(REPO_ROOT, 'test/shippers/otel-python/export_logs.py'), `127.0.0.1:${port}`, tenant, service], { timeout: 60_000 })
    // One export a record (a simple processor), each acknowledged.
    expect(stdout.trim().split('\n'), stderr).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS'])

    const logs = await waitFor('the Python records in ClickHouse', async () => {
      const l = await queryLogs(q, { service, tenant, limit: '10' })
      return l.length >= 3 ? l : undefined
    })
    expect(logs).toHaveLength(3)
    const byMessage = new Map(logs.map((l) => [l.message, l]))
    const shared = { tenant, service, host: 'py-host-1', source: 'otlp' }
    expect(byMessage.get('card declined for order o-17')).toMatchObject({ ...shared, severity_text: 'WARN', severity_number: 13, attributes: { order_id: 'o-17', attempt: '2', 'otel.scope.name': 'payments.worker' } })
    expect(byMessage.get('retrying in 250 ms')).toMatchObject({ ...shared, severity_text: 'INFO', severity_number: 9 })
    const failed = byMessage.get('payment failed')
    expect(failed).toMatchObject({ ...shared, severity_text: 'ERROR', severity_number: 17, attributes: { 'exception.type': 'ValueError', 'exception.message': 'gateway timeout after 3000 ms' } })
    expect(failed!.attributes['exception.stacktrace']).toMatch(/Traceback[\s\S]*ValueError: gateway timeout after 3000 ms/)
    expect(failed!.resource).toMatchObject({ 'telemetry.sdk.language': 'python' })
  })
})
