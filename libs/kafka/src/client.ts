// kafkajs client factory: pino-backed logging and retry settings chosen once for every client.
import net from 'node:net'
import tls from 'node:tls'
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

const KEEP_ALIVE_DELAY_MS = 60_000

/**
 * What the patched kafkajs hands a socket factory (kafkajs-compat.ts, in-place-responses): also
 * `onread`, for net.connect, so that a plain connection reads into one reused buffer rather than
 * a new Buffer per read. A factory that leaves it out still works, through 'data' events.
 */
export type SocketFactoryArgs = Parameters<ISocketFactory>[0] & { onread?: net.OnReadOpts }

/**
 * kafkajs's own socket factory (as patched: plain connections read into `onread`'s buffer), plus
 * TCP_NODELAY: kafkajs leaves Nagle's algorithm on, so a request written while an earlier one is
 * unacknowledged waits for the ACK (up to the peer's delayed-ACK timer, ~40 ms on Linux) — the
 * Java client and the broker both turn it off.
 */
export const noDelaySocketFactory: ISocketFactory = (args) => {
  const { host, port, ssl, onConnect, onread } = args as SocketFactoryArgs
  const socket = ssl
    ? tls.connect({ host, port, ...(!net.isIP(host) && { servername: host }), ...ssl }, onConnect)
    : net.connect({ host, port, ...(onread && { onread }) }, onConnect)
  socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS)
  socket.setNoDelay(true)
  return socket
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
    socketFactory: opts.socketFactory ?? noDelaySocketFactory,
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
