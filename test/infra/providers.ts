// Where the integration tests get their infrastructure, first match wins:
//   1. env endpoints   KAFKA_BROKERS + SCHEMA_REGISTRY_URL (and CLICKHOUSE_URL) are used as given;
//   2. testcontainers  when a Docker engine answers: official images, started and stopped here;
//   3. native stack    deploy/local/stack.sh up (Kafka + Apicurio from Maven Central).
// ClickHouse: CLICKHOUSE_URL when set, otherwise embedded chdb per test process.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface Infra {
  provider: 'env' | 'testcontainers' | 'native'
  kafkaBrokers: string
  registryUrl: string
  clickhouseUrl?: string
}

export interface InfraHandle {
  infra: Infra
  stop(): Promise<void>
}

async function dockerAvailable(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5000 })
    return true
  } catch {
    return false
  }
}

async function fromTestcontainers(): Promise<InfraHandle> {
  const { GenericContainer, Network, Wait } = await import('testcontainers')
  const network = await new Network().start()
  const kafka = await new GenericContainer('apache/kafka:4.4.0')
    .withNetwork(network)
    .withNetworkAliases('kafka')
    .withExposedPorts({ container: 9092, host: 39092 })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:9092,INTERNAL://:19092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://localhost:39092,INTERNAL://kafka:19092',
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'INTERNAL',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@kafka:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start()
  const registry = await new GenericContainer('apicurio/apicurio-registry:3.0.9')
    .withNetwork(network)
    .withExposedPorts(8080)
    .withEnvironment({ APICURIO_STORAGE_KIND: 'kafkasql', APICURIO_KAFKASQL_BOOTSTRAP_SERVERS: 'kafka:19092' })
    .withWaitStrategy(Wait.forHttp('/apis/ccompat/v7/subjects', 8080))
    .start()
  return {
    infra: {
      provider: 'testcontainers',
      kafkaBrokers: `localhost:${kafka.getMappedPort(9092)}`,
      registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}/apis/ccompat/v7`,
    },
    stop: async () => {
      await registry.stop()
      await kafka.stop()
      await network.stop()
    },
  }
}

async function fromNativeStack(): Promise<InfraHandle> {
  // Idempotent: installs on first use, reuses a running stack. Left running for the next run.
  const { stdout } = await run('bash', [path.join(REPO_ROOT, 'deploy/local/stack.sh'), 'up'], {
    cwd: REPO_ROOT,
    timeout: 20 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
    env: { ...process.env, KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: '' },
  })
  const brokers = /KAFKA_BROKERS=(\S+)/.exec(stdout)?.[1] ?? 'localhost:9092'
  const registryUrl = /SCHEMA_REGISTRY_URL=(\S+)/.exec(stdout)?.[1] ?? 'http://localhost:8081/apis/ccompat/v7'
  return { infra: { provider: 'native', kafkaBrokers: brokers, registryUrl }, stop: async () => undefined }
}

export async function provideInfra(env = process.env): Promise<InfraHandle> {
  const clickhouseUrl = env.CLICKHOUSE_URL || undefined
  let handle: InfraHandle
  if (env.KAFKA_BROKERS && env.SCHEMA_REGISTRY_URL) {
    handle = { infra: { provider: 'env', kafkaBrokers: env.KAFKA_BROKERS, registryUrl: env.SCHEMA_REGISTRY_URL }, stop: async () => undefined }
  } else if (await dockerAvailable()) {
    handle = await fromTestcontainers()
  } else {
    handle = await fromNativeStack()
  }
  if (clickhouseUrl) handle.infra.clickhouseUrl = clickhouseUrl
  return handle
}
