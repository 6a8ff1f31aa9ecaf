// docker-compose.yml cannot run on machines without Docker; this keeps it honest instead: every
// Sluice service exists, runs its own target, publishes its configured port, and sets only env
// vars its config schema knows; the cluster profiles (kafka-cluster, clickhouse-cluster) agree
// with themselves, with their config files and with the env files that point Sluice at them.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { envNames } from '@sluice/config'
import { MODULES } from '@sluice/runner'
import { envSchema as runtimeEnv } from '../services/runner/src/config.js'
import { REPO_ROOT } from './infra/providers.js'

interface ComposeService {
  image?: string
  hostname?: string
  profiles?: string[]
  secrets?: string[]
  command?: string[]
  ports?: string[]
  volumes?: string[]
  depends_on?: Record<string, { condition?: string; required?: boolean }> | string[]
  environment?: Record<string, string | number>
}

const read = (file: string) => readFileSync(path.join(REPO_ROOT, file), 'utf8')
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, ComposeService>
  secrets?: Record<string, { file?: string }>
  volumes?: Record<string, unknown>
}
const processEnv = new Set(envNames(runtimeEnv))

type Vars = Record<string, string>

/** Compose's interpolation: ${NAME}, ${NAME:-default} (unset or empty), ${NAME-default} (unset), $$. */
function interpolate(value: string | number, vars: Vars): string {
  return String(value).replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}/g, (match, name: string | undefined, op: string | undefined, def: string | undefined) => {
    if (match === '$$') return '$'
    const v = vars[name!]
    if (op === ':-') return v === undefined || v === '' ? def! : v
    if (op === '-') return v ?? def!
    return v ?? ''
  })
}

/** A service's environment as its container sees it, under the given env file's variables. */
const envOf = (svc: ComposeService, vars: Vars = {}): Record<string, string> =>
  Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, interpolate(v, vars)]))

/** An --env-file: NAME=value lines, # comments. */
function envFile(file: string): Vars {
  const vars: Vars = {}
  for (const line of read(file).split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (m) vars[m[1]!] = m[2]!.trim()
  }
  return vars
}

const inProfile = (profile: string) => Object.entries(compose.services).filter(([, s]) => s.profiles?.includes(profile))
const dependsOn = (svc: ComposeService) => (Array.isArray(svc.depends_on) ? Object.fromEntries(svc.depends_on.map((d) => [d, {}])) : (svc.depends_on ?? {}))

describe('docker-compose.yml', () => {
  it('has one container per Sluice target plus the infrastructure, from official images', () => {
    for (const name of ['kafka', 'schema-registry', 'clickhouse', 'prometheus', 'grafana', ...MODULES.map((m) => m.name)]) expect(compose.services[name], name).toBeDefined()
    expect(compose.services.kafka?.image).toMatch(/^apache\/kafka:/)
    expect(compose.services.clickhouse?.image).toMatch(/^clickhouse\/clickhouse-server:/)
  })

  it('starts no profile service by default and points Sluice at the single broker and server', () => {
    for (const name of ['kafka', 'schema-registry', 'clickhouse', ...MODULES.map((m) => m.name)]) expect(compose.services[name]!.profiles, name).toBeUndefined()
    expect(envOf(compose.services['schema-registry']!).APICURIO_KAFKASQL_BOOTSTRAP_SERVERS).toBe('kafka:19092')
    for (const m of MODULES) {
      const env = envOf(compose.services[m.name]!)
      if ('KAFKA_BROKERS' in env) expect(env.KAFKA_BROKERS, m.name).toBe('kafka:19092')
      if ('CLICKHOUSE_URL' in env) expect(env.CLICKHOUSE_URL, m.name).toBe('http://clickhouse:8123')
      // Empty counts as unset: one server, no ON CLUSTER.
      if ('CLICKHOUSE_CLUSTER' in env) expect(env.CLICKHOUSE_CLUSTER, m.name).toBe('')
    }
  })

  for (const m of MODULES) {
    it(`${m.name}: runs its target, publishes its port, and uses only env vars its config knows`, () => {
      const svc = compose.services[m.name]!
      expect(svc.command).toEqual(['run', '--target', m.name])
      const known = new Set(envNames(m.envSchema))
      const env = envOf(svc)
      for (const key of Object.keys(env)) expect(known.has(key) || processEnv.has(key), `${m.name} sets unknown env var ${key}`).toBe(true)
      // The production example asks for keys at every door, from the keys secret.
      expect(env.SLUICE_AUTH).toBe('true')
      expect(svc.secrets).toContain('sluice-api-keys')
      expect(env.SLUICE_API_KEYS_FILE).toBe('/run/secrets/sluice-api-keys')
      const port = Number(env[m.port.env] ?? m.port.default)
      expect(m.envSchema.shape[m.port.env]).toBeDefined()
      expect(svc.ports).toContain(`${port}:${port}`)
      // The parsed config accepts exactly what compose sets (WS_AUTH_SECRET comes from the shell).
      expect(() => m.loadConfig({ ...env, ...(m.name === 'ws-fanout' && { WS_AUTH_SECRET: 'a-secret-of-16-chars+' }) })).not.toThrow()
    })
  }

  it('takes the keys file from a secret the operator makes (never a key in the repository)', () => {
    expect(compose.secrets?.['sluice-api-keys']?.file).toBe('./deploy/api-keys.json')
    expect(readFileSync(path.join(REPO_ROOT, '.gitignore'), 'utf8')).toContain('deploy/api-keys.json')
  })

  it('scrapes every Sluice service in the Prometheus config', () => {
    const prom = readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')
    for (const m of MODULES) expect(prom).toContain(`${m.name}:${m.port.default}`)
  })
})

describe('docker-compose.yml, profile kafka-cluster', () => {
  const brokers = inProfile('kafka-cluster')
  const vars = envFile('deploy/compose/kafka-cluster.env')
  const envs = brokers.map(([name, svc]) => ({ name, svc, env: envOf(svc) }))

  it('has three KRaft nodes, each broker and controller, of one cluster, from the official image', () => {
    expect(brokers.map(([n]) => n).sort()).toEqual(['kafka-1', 'kafka-2', 'kafka-3'])
    for (const { name, svc, env } of envs) {
      expect(svc.image, name).toMatch(/^apache\/kafka:/)
      expect(svc.image, name).toBe(compose.services.kafka!.image)
      expect(svc.hostname, name).toBe(name)
      expect(env.KAFKA_PROCESS_ROLES, name).toBe('broker,controller')
    }
    expect(new Set(envs.map((b) => b.env.CLUSTER_ID)).size).toBe(1)
    expect(new Set(envs.map((b) => b.env.KAFKA_NODE_ID)).size).toBe(3)
  })

  it('lists exactly its three nodes as the quorum voters, the same list on each', () => {
    const expected = envs
      .map(({ name, env }) => `${env.KAFKA_NODE_ID}@${name}:${/CONTROLLER:\/\/:(\d+)/.exec(env.KAFKA_LISTENERS!)![1]}`)
      .sort()
      .join(',')
    for (const { name, env } of envs) expect(env.KAFKA_CONTROLLER_QUORUM_VOTERS!.split(',').sort().join(','), name).toBe(expected)
  })

  it('keeps three copies and needs two in sync for a write, internal topics too', () => {
    for (const { name, env } of envs) {
      expect(env.KAFKA_DEFAULT_REPLICATION_FACTOR, name).toBe('3')
      expect(env.KAFKA_MIN_INSYNC_REPLICAS, name).toBe('2')
      expect(env.KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR, name).toBe('3')
      expect(env.KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR, name).toBe('3')
      expect(env.KAFKA_TRANSACTION_STATE_LOG_MIN_ISR, name).toBe('2')
    }
  })

  it('gives each node its own data volume and host port, advertising the name other containers use', () => {
    const volumes = envs.map(({ svc }) => svc.volumes![0]!.split(':')[0]!)
    expect(new Set(volumes).size).toBe(3)
    for (const v of volumes) expect(compose.volumes).toHaveProperty(v)
    const hostPorts = envs.map(({ svc }) => svc.ports![0]!.split(':')[0])
    expect(new Set(hostPorts).size).toBe(3)
    expect(hostPorts).not.toContain('9092')
    for (const { name, svc, env } of envs) {
      const external = svc.ports![0]!.split(':')[0]
      expect(env.KAFKA_ADVERTISED_LISTENERS, name).toBe(`PLAINTEXT://${name}:19092,EXTERNAL://localhost:${external}`)
    }
  })

  it('its env file points the registry and every Kafka-using Sluice service at the three brokers', () => {
    const advertised = envs.map(({ env }) => /PLAINTEXT:\/\/([^,]+)/.exec(env.KAFKA_ADVERTISED_LISTENERS!)![1]).sort()
    expect(vars.STACK_KAFKA_BROKERS!.split(',').sort()).toEqual(advertised)
    expect(envOf(compose.services['schema-registry']!, vars).APICURIO_KAFKASQL_BOOTSTRAP_SERVERS).toBe(vars.STACK_KAFKA_BROKERS)
    for (const m of MODULES) {
      const svc = compose.services[m.name]!
      const env = envOf(svc, vars)
      if (!('kafka' in m.needs)) continue
      expect(env.KAFKA_BROKERS, m.name).toBe(vars.STACK_KAFKA_BROKERS)
      // Waits for the brokers when the profile is on, and only then.
      for (const b of ['kafka-1', 'kafka-2', 'kafka-3']) expect(dependsOn(svc)[b], `${m.name} → ${b}`).toEqual({ condition: 'service_healthy', required: false })
      expect(() => m.loadConfig({ ...env, WS_AUTH_SECRET: 'a-secret-of-16-chars+' }), m.name).not.toThrow()
    }
  })
})

/** The text of each <tag>…</tag> in xml (non-nested tags of one name). */
const elements = (xml: string, tag: string) => [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1]!)
const text = (xml: string, tag: string) => elements(xml, tag)[0]?.trim()

describe('docker-compose.yml, profile clickhouse-cluster', () => {
  const nodes = inProfile('clickhouse-cluster').filter(([, s]) => s.image?.startsWith('clickhouse/clickhouse-server:'))
  const keepers = inProfile('clickhouse-cluster').filter(([, s]) => s.image?.startsWith('clickhouse/clickhouse-keeper:'))
  const vars = envFile('deploy/compose/clickhouse-cluster.env')
  const clusterXml = read('deploy/clickhouse-cluster/cluster.xml').replace(/<!--[\s\S]*?-->/g, '')
  const keeperXml = read('deploy/clickhouse-cluster/keeper.xml').replace(/<!--[\s\S]*?-->/g, '')
  const clusterName = vars.STACK_CLICKHOUSE_CLUSTER!
  const remote = text(clusterXml, 'remote_servers') ?? ''
  const shards = elements(text(remote, clusterName) ?? '', 'shard').map((s) => ({ internal: text(s, 'internal_replication'), hosts: elements(s, 'replica').map((r) => text(r, 'host')!) }))

  it('has 2 shards x 2 replicas and one Keeper, the servers of the same version as the single one', () => {
    expect(nodes).toHaveLength(4)
    expect(keepers).toHaveLength(1)
    for (const [name, svc] of nodes) expect(svc.image, name).toBe(compose.services.clickhouse!.image)
    expect(shards.map((s) => s.hosts.length)).toEqual([2, 2])
    // Inserts go to one replica of a shard; replication copies them to the other.
    for (const s of shards) expect(s.internal).toBe('true')
  })

  it('names its remote_servers cluster as CLICKHOUSE_CLUSTER, which Sluice accepts (default sluice)', () => {
    expect(clusterName).toBe('sluice')
    expect(elements(remote, clusterName)).toHaveLength(1)
    const sink = MODULES.find((m) => m.name === 'clickhouse-sink')!
    expect(sink.envSchema.shape).toHaveProperty('CLICKHOUSE_CLUSTER')
  })

  it('gives every server the same cluster file, its own macros, hostname and volume; the cluster lists each once in its shard', () => {
    expect(text(clusterXml, 'macros')).toMatch(/<shard from_env="CH_SHARD"\/>\s*<replica from_env="CH_REPLICA"\/>/)
    const listed = shards.flatMap((s) => s.hosts)
    expect(listed.sort()).toEqual(nodes.map(([n]) => n).sort())
    const replicas = new Set<string>()
    for (const [name, svc] of nodes) {
      const env = envOf(svc)
      expect(svc.hostname, name).toBe(name)
      expect(svc.volumes, name).toContain('./deploy/clickhouse-cluster/cluster.xml:/etc/clickhouse-server/config.d/cluster.xml:ro')
      expect(svc.volumes!.filter((v) => v.endsWith(':/var/lib/clickhouse')), name).toHaveLength(1)
      // {shard} is the shard that lists this server; {replica} is unique.
      const shard = shards.findIndex((s) => s.hosts.includes(name)) + 1
      expect(env.CH_SHARD, name).toBe(String(shard))
      expect(env.CH_REPLICA, name).toBeTruthy()
      replicas.add(`${env.CH_SHARD}/${env.CH_REPLICA}`)
    }
    expect(replicas.size).toBe(4)
    expect(new Set(nodes.flatMap(([, s]) => s.volumes!.filter((v) => v.endsWith(':/var/lib/clickhouse')))).size).toBe(4)
  })

  it('lets the servers reach each other with the password they set, and the Keeper where it listens', () => {
    for (const r of elements(remote, 'replica')) {
      expect(text(r, 'port')).toBe('9000')
      expect(r).toContain('<password from_env="CLICKHOUSE_PASSWORD"/>')
    }
    for (const [name, svc] of nodes) expect(envOf(svc).CLICKHOUSE_PASSWORD, name).toBeTruthy()
    const [keeperName, keeper] = keepers[0]!
    const zk = text(clusterXml, 'zookeeper')!
    expect(text(zk, 'host')).toBe(keeperName)
    expect(text(zk, 'port')).toBe(text(keeperXml, 'tcp_port'))
    expect(keeper.volumes).toContain('./deploy/clickhouse-cluster/keeper.xml:/etc/clickhouse-keeper/keeper_config.xml:ro')
    const raft = elements(text(keeperXml, 'raft_configuration')!, 'server')
    expect(raft.map((s) => text(s, 'hostname'))).toEqual([keeperName])
    expect(raft.map((s) => text(s, 'id'))).toEqual([text(keeperXml, 'server_id')])
  })

  it('its env file points the sink and the query API at a server of the cluster, with the cluster name', () => {
    const url = new URL(vars.STACK_CLICKHOUSE_URL!)
    expect(nodes.map(([n]) => n)).toContain(url.hostname)
    expect(url.port).toBe('8123')
    for (const m of MODULES.filter((x) => 'clickhouse' in x.needs)) {
      const svc = compose.services[m.name]!
      const env = envOf(svc, vars)
      expect(env.CLICKHOUSE_URL, m.name).toBe(vars.STACK_CLICKHOUSE_URL)
      expect(env.CLICKHOUSE_CLUSTER, m.name).toBe(clusterName)
      expect(dependsOn(svc)[url.hostname], m.name).toEqual({ condition: 'service_healthy', required: false })
      expect(() => m.loadConfig(env), m.name).not.toThrow()
    }
  })
})
