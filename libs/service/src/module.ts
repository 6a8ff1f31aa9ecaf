// The module descriptor: how a service describes itself to the runtime (services/runner), which
// iterates the descriptors instead of naming services. A descriptor says what the service reads
// from the environment (a zod schema, parsed and reported before anything connects), what it
// needs from the process (Kafka, the schema registry, ClickHouse), extra topics it owns, and how
// to create it from its config and those dependencies. What it creates is an HTTP app (ops routes
// and its API), the stages it wants run on consumer runners, and start/close hooks around them.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { z } from 'zod'
import type { Env } from '@sluice/config'
import type { Alert, EnrichedLog, LogEvent } from '@sluice/core'
import type { ClickHouseHandle } from '@sluice/clickhouse'
import type { Kafka, MessageProducer, RecordDecoder, StageConsumer } from '@sluice/kafka'
import type { HealthCheck, Registry } from '@sluice/observability'
import type { Security } from '@sluice/auth'

/** What a service needs from the process; the runtime connects each once, for every service that asks. */
export interface ServiceNeeds {
  kafka?: boolean
  registry?: boolean
  clickhouse?: boolean
}

/** An Avro codec as services use it (AvroCodec is one; tests give fakes). */
export interface Codec<T> extends RecordDecoder<T> {
  /** Registry subject, schema and its id: enough to build the same codec on another thread. */
  readonly subject: string
  readonly id: number
  readonly schema: object
  encode(value: T): Buffer
  /** Encodes into `target` at `offset`: the end offset, or a negative number when `target` is too small. */
  encodeInto(value: T, target: Buffer, offset: number): number
  /** A decoder reading only some fields (`readerSchema`: the same record with fewer fields). */
  projection<P>(readerSchema: object): RecordDecoder<P>
}

export interface Codecs {
  raw: Codec<LogEvent>
  enriched: Codec<EnrichedLog>
  alert: Codec<Alert>
}

/** Milliseconds since the epoch; injected so time-driven logic is testable. */
export type Clock = () => number

export interface BaseDeps {
  logger: Logger
  /** The process's metrics registry. */
  registry: Registry
  /** Readiness checks of the dependencies (the runtime adds `consumer` for services that consume). */
  checks: Record<string, HealthCheck>
  clock: Clock
  /** API keys and the tenant rule, tenants' limits and retention, and the service's audit log. */
  security: Security
}

export interface KafkaDeps {
  kafka: Kafka
  producer: MessageProducer
}

export interface RegistryDeps {
  codecs: Codecs
  registryUrl: string
}

export interface ClickHouseDeps {
  clickhouse: ClickHouseHandle
}

type If<B, T> = B extends true ? T : unknown
export type DepsFor<N extends ServiceNeeds> = BaseDeps & If<N['kafka'], KafkaDeps> & If<N['registry'], RegistryDeps> & If<N['clickhouse'], ClickHouseDeps>

/** A topic a service owns besides the standard ones (state changelogs). */
export interface OwnTopic {
  topic: string
  /** Compacted: the latest record per key is kept. */
  compacted?: boolean
  /** Default: the process's KAFKA_TOPIC_PARTITIONS. */
  partitions?: number
  /** How long records are kept (retention.ms); default the broker's. */
  retentionMs?: number
}

/** A created service: the runtime starts it, runs its stages, listens on its app, and closes it in reverse. */
export interface ServiceInstance {
  app: FastifyInstance
  listen: { host: string; port: number }
  /** Stages to run on consumer runners (shared with other services' where they read the same topics). */
  consumers?: StageConsumer[]
  /** Before its stages run (restore state, start threads). */
  start?(): Promise<void>
  /** After its stages stopped (final checkpoints, threads). */
  close?(): Promise<void>
}

export interface ServiceModule<C, N extends ServiceNeeds = ServiceNeeds, Name extends string = string> {
  /** The target name (`sluice run --target <name>`). */
  readonly name: Name
  /** Every environment variable it reads. */
  readonly envSchema: z.ZodObject
  /** The variable naming its HTTP port, and the default. */
  readonly port: { readonly env: string; readonly default: number }
  readonly needs: N
  /** Parses and freezes its config; throws a ConfigError naming every bad variable. */
  loadConfig(env?: Env): C
  topics?(config: C): OwnTopic[]
  create(config: C, deps: DepsFor<N>): ServiceInstance
}

/** Any service's descriptor, as the runtime lists them. */
export type AnyServiceModule = ServiceModule<unknown, ServiceNeeds>

/** Identity with inference: `needs` types `create`'s deps, `name` stays a literal. */
export function defineModule<C, const N extends ServiceNeeds, const Name extends string>(m: ServiceModule<C, N, Name>): ServiceModule<C, N, Name> {
  return m
}

/** Environment of a module, for callers without one (tests). */
export type { Env }
