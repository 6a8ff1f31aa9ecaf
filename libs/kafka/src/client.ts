// kafkajs client factory: pino-backed logging and retry settings chosen once for every client.
import { Kafka, logLevel } from 'kafkajs'
import type { ISocketFactory, LogEntry, logCreator } from 'kafkajs'
import type { Logger } from 'pino'
import { assertKafkajsCompat } from './kafkajs-compat.js'

export interface KafkaClientOptions {
  brokers: readonly string[]
  clientId: string
  logger: Logger
  connectionTimeoutMs?: number
  requestTimeoutMs?: number
  /** kafkajs socket factory, for custom transports (and fault injection in tests). */
  socketFactory?: ISocketFactory
}

function pinoLogCreator(logger: Logger): logCreator {
  const log = logger.child({ component: 'kafkajs' })
  return () => ({ level, log: entry }: LogEntry) => {
    const { message, ...rest } = entry
    if (level === logLevel.ERROR || level === logLevel.NOTHING) log.error(rest, message)
    else if (level === logLevel.WARN) log.warn(rest, message)
    else if (level === logLevel.INFO) log.debug(rest, message)
    else log.trace(rest, message)
  }
}

export function createKafka(opts: KafkaClientOptions): Kafka {
  // kafkajs must be the pinned version with deploy/patches applied; throws saying what to run.
  assertKafkajsCompat()
  return new Kafka({
    clientId: opts.clientId,
    brokers: [...opts.brokers],
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    requestTimeout: opts.requestTimeoutMs ?? 30_000,
    logLevel: logLevel.INFO,
    logCreator: pinoLogCreator(opts.logger),
    retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 5 },
    ...(opts.socketFactory && { socketFactory: opts.socketFactory }),
  })
}

/** Readiness probe: the cluster answers a metadata request. */
export async function pingKafka(kafka: Kafka): Promise<void> {
  const admin = kafka.admin({ retry: { retries: 0 } })
  try {
    await admin.connect()
    await admin.describeCluster()
  } finally {
    await admin.disconnect().catch(() => undefined)
  }
}
