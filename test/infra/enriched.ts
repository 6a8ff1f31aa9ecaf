// Test factories for records on logs.enriched: an EnrichedLog with defaults, and a producer that
// writes them in the Confluent wire format through the real registry, keyed like the enricher does.
import type { EnrichedLog } from '@sluice/core'
import { BatchingProducer, createKafka } from '@sluice/kafka'
import { AvroCodec, createRegistryClient, loadAvsc } from '@sluice/registry'
import { createLogger } from '@sluice/observability'
import { onTestFinished } from 'vitest'
import type { Isolation } from './sluice.js'

let seq = 0

export function enrichedLog(over: Partial<EnrichedLog> & { atMs?: number } = {}): EnrichedLog {
  const { atMs, ...rest } = over
  const ts = BigInt(atMs ?? Date.now()) * 1_000_000n
  return {
    id: `e-${process.pid}-${seq++}`,
    tenant: 'acme',
    timestamp: ts,
    observed_timestamp: ts,
    service: 'checkout',
    host: null,
    severity_text: 'INFO',
    severity_number: 9,
    message: 'request served',
    trace_id: null,
    span_id: null,
    attributes: {},
    resource: {},
    source: 'http',
    level: 'INFO',
    category: 'unknown',
    is_error: false,
    pattern_id: '00000000000000aa',
    pattern_aliases: [],
    template: 'request served',
    classifier: 'rules',
    http_status: null,
    duration_ms: null,
    user_id: null,
    session_id: null,
    error_code: null,
    redacted: false,
    truncated: false,
    parsed_format: null,
    ...rest,
  }
}

export function errorLog(over: Partial<EnrichedLog> & { atMs?: number } = {}): EnrichedLog {
  return enrichedLog({ severity_text: 'ERROR', severity_number: 17, level: 'ERROR', is_error: true, message: 'payment declined: gateway timeout', template: 'payment declined: gateway timeout', pattern_id: '00000000000000ee', category: 'payment', ...over })
}

export interface EnrichedWriter {
  send(records: EnrichedLog[]): Promise<void>
}

/** A producer to the isolation's logs.enriched topic, closed when the test finishes. */
export async function enrichedWriter(iso: Isolation): Promise<EnrichedWriter> {
  const kafka = createKafka({ brokers: iso.env.KAFKA_BROKERS!.split(','), clientId: 'test-enriched-writer', logger: createLogger({ level: 'warn' }) })
  const producer = new BatchingProducer(kafka)
  await producer.connect()
  onTestFinished(() => producer.close())
  const codec = await AvroCodec.register<EnrichedLog>(createRegistryClient(iso.env.SCHEMA_REGISTRY_URL!), `${iso.topicEnriched}-value`, loadAvsc('enriched-log.avsc'))
  return {
    send: (records) => producer.send(iso.topicEnriched, records.map((r) => ({ key: `${r.tenant}/${r.service}`, value: codec.encode(r) }))),
  }
}
