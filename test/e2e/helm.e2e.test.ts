// The Helm chart (deploy/helm/sluice), validated without a cluster: deploy/helm/validate.sh lints
// and renders it with each value set in sluice/ci/ and checks the result with kubeconform -strict
// against Kubernetes' schemas and the ServiceMonitor and ScaledObject CRDs (tools installed on
// first use into .cache/, minutes on a fresh clone). Then the renderings are held against Sluice
// itself: each target's command, port, probes, consumer group and topic, and every variable the
// chart sets, parsed by the schema of the process that reads it.
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest'
import { envNames, parseEnv } from '@sluice/config'
import { MODULES } from '@sluice/runner'
import { envSchema as runtimeEnv } from '../../services/runner/src/config.js'
import { makeCerts } from '../infra/certs.js'
import { REPO_ROOT } from '../infra/providers.js'

const run = promisify(execFile)
const VALIDATE = path.join(REPO_ROOT, 'deploy/helm/validate.sh')
const CHART = path.join(REPO_ROOT, 'deploy/helm/sluice')
const SETS = ['default', 'scaled', 'existing-secret'] as const
type SetName = (typeof SETS)[number]

// What the tests read of the rendered objects.
interface Container {
  args: string[]
  ports: { name: string; containerPort: number; protocol: string }[]
  envFrom: { configMapRef: { name: string } }[]
  env?: { name: string; valueFrom: { secretKeyRef: { name: string; key: string; optional: boolean } } }[]
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[]
  startupProbe: { httpGet: { path: string; port: string } }
  livenessProbe: { httpGet: { path: string; port: string } }
  readinessProbe: { httpGet: { path: string; port: string } }
  resources: { requests?: Record<string, string>; limits?: Record<string, string> }
  securityContext: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean }
}
interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  data?: Record<string, string>
  spec: {
    replicas?: number
    selector?: { matchLabels: Record<string, string> } & Record<string, string>
    template?: { metadata: { labels: Record<string, string> }; spec: { containers: Container[]; securityContext: { runAsNonRoot?: boolean } } }
    ports?: { name: string; port: number }[]
    minReplicaCount?: number
    maxReplicaCount?: number
    scaleTargetRef?: { name: string }
    triggers?: { type: string; metadata: Record<string, string> }[]
    endpoints?: { port: string; path: string; scheme?: string }[]
  }
}
interface Report {
  summary: { valid: number; invalid: number; errors: number; skipped: number }
  resources?: { kind: string; name: string; status: string; msg: string }[]
}

let out: string
let helm: string
let validation: { code: number; output: string }
const rendered = {} as Record<SetName, K8sObject[]>
const reports = {} as Record<SetName, Report>

const objects = (set: SetName, kind: string) => rendered[set].filter((o) => o.kind === kind)
const named = (set: SetName, kind: string, name: string) => objects(set, kind).find((o) => o.metadata.name === name)
const module = (name: string) => MODULES.find((m) => m.name === name)!

/** helm template with extra --set values; resolves to the error text when rendering fails. */
async function renderFailure(values: string, sets: string[]): Promise<string> {
  try {
    await run(helm, ['template', 'sluice', CHART, '-f', path.join(CHART, 'ci', values), ...sets.flatMap((s) => ['--set', s])])
  } catch (err) {
    return (err as { stderr: string }).stderr
  }
  throw new Error(`rendering with ${sets.join(' ')} succeeded`)
}

/** The variables a Deployment's container gets: its ConfigMaps, then its Secret keys. */
function containerEnv(set: SetName, c: Container): Record<string, string> {
  const env: Record<string, string> = {}
  for (const ref of c.envFrom) Object.assign(env, named(set, 'ConfigMap', ref.configMapRef.name)!.data)
  for (const e of c.env ?? []) {
    const { name, key } = e.valueFrom.secretKeyRef
    const secret = named(set, 'Secret', name)
    // The chart's own Secret: its values; an existing Secret: a stand-in for each key.
    const value = secret ? secret.data?.[key] && Buffer.from(secret.data[key], 'base64').toString() : `stand-in-for-${key}-0123456789`
    if (value) env[e.name] = value
  }
  return env
}

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'sluice-helm-'))
  // The first run on a machine builds helm and kubeconform from source: minutes.
  const result = await run('bash', [VALIDATE, out], { maxBuffer: 64 << 20, timeout: 25 * 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, output: `${err.stdout ?? ''}${err.stderr ?? ''}` }),
  )
  validation = result
  const tools = await run('bash', [VALIDATE, 'tools'])
  helm = /^HELM=(.*)$/m.exec(tools.stdout)![1]!
  for (const set of SETS) {
    rendered[set] = parseAllDocuments(readFileSync(path.join(out, `${set}.yaml`), 'utf8'))
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null)
    reports[set] = JSON.parse(readFileSync(path.join(out, `${set}.json`), 'utf8')) as Report
  }
}, 30 * 60_000)

afterAll(() => {
  if (out) rmSync(out, { recursive: true, force: true })
})

describe('Helm chart', () => {
  it('lints, renders and validates strictly against Kubernetes 1.30 and the CRDs, with every value set', () => {
    expect(validation.code, validation.output.slice(-4000)).toBe(0)
    for (const set of SETS) {
      const bad = (reports[set].resources ?? []).filter((r) => r.status !== 'statusValid')
      expect(bad, set).toEqual([])
      expect(reports[set].summary, set).toEqual({ valid: rendered[set].length, invalid: 0, errors: 0, skipped: 0 })
    }
    // The custom resources were checked against their schemas, not skipped.
    // (The scaled set's gateway serves HTTPS: a ServiceMonitor of its own.)
    expect(objects('scaled', 'ServiceMonitor')).toHaveLength(2)
    expect(objects('scaled', 'ScaledObject').length).toBeGreaterThan(0)
  })

  it('runs each target in a Deployment of its own, probed on /healthz and /readyz, with resources, behind a Service on its port', () => {
    // `scaled` uses a ClickHouse server: one Deployment per target.
    for (const m of MODULES) {
      const d = named('scaled', 'Deployment', `sluice-${m.name}`)
      expect(d, m.name).toBeDefined()
      const c = d!.spec.template!.spec.containers[0]!
      expect(c.args).toEqual(['run', '--target', m.name])
      expect(c.ports.find((p) => p.name === 'http')?.containerPort, m.name).toBe(m.port.default)
      expect(containerEnv('scaled', c)[m.port.env], m.name).toBe(String(m.port.default))
      // The scaled set's gateway serves HTTPS (targets.gateway.tls.listeners.http): probed over it.
      const scheme = m.name === 'gateway' ? { scheme: 'HTTPS' } : {}
      expect(c.startupProbe.httpGet, m.name).toEqual({ path: '/healthz', port: 'http', ...scheme })
      expect(c.livenessProbe.httpGet, m.name).toEqual({ path: '/healthz', port: 'http', ...scheme })
      expect(c.readinessProbe.httpGet, m.name).toEqual({ path: '/readyz', port: 'http', ...scheme })
      for (const k of ['requests', 'limits'] as const) expect(Object.keys(c.resources[k] ?? {}).sort(), `${m.name} ${k}`).toEqual(['cpu', 'memory'])
      const svc = named('scaled', 'Service', `sluice-${m.name}`)!
      expect(svc.spec.ports!.find((p) => p.name === 'http')?.port, m.name).toBe(m.port.default)
      expect(d!.spec.template!.metadata.labels, m.name).toMatchObject(svc.spec.selector!)
      expect(d!.spec.selector!.matchLabels).toEqual(svc.spec.selector)
    }
    // The gateway's Service carries OTLP/gRPC, syslog and GELF over TCP and UDP, the forward protocol and Beats.
    const gw = named('scaled', 'Service', 'sluice-gateway')!
    expect(gw.spec.ports!.map((p) => p.name).sort()).toEqual(['beats', 'forward', 'gelf-tcp', 'gelf-udp', 'http', 'otlp-grpc', 'syslog-tcp', 'syslog-udp'])
  })

  it('runs the sink and the query API in one pod on embedded ClickHouse, the query-api Service reaching it', () => {
    expect(named('default', 'Deployment', 'sluice-query-api')).toBeUndefined()
    const d = named('default', 'Deployment', 'sluice-clickhouse-sink')!
    expect(d.spec.replicas).toBe(1)
    const c = d.spec.template!.spec.containers[0]!
    expect(c.args).toEqual(['run', '--target', 'clickhouse-sink,query-api'])
    expect(c.ports.map((p) => p.containerPort)).toEqual(expect.arrayContaining([9102, 8070]))
    expect(named('default', 'Service', 'sluice-query-api')!.spec.selector).toEqual(d.spec.selector!.matchLabels)
    expect(containerEnv('default', c).CLICKHOUSE_URL).toBeUndefined()
    expect(named('default', 'PersistentVolumeClaim', 'sluice-clickhouse')).toBeDefined()
  })

  it('has a PodDisruptionBudget for exactly the Deployments that run more than one instance', () => {
    for (const set of SETS) {
      for (const d of objects(set, 'Deployment')) {
        const scaled = objects(set, 'ScaledObject').find((s) => s.spec.scaleTargetRef!.name === d.metadata.name)
        const least = scaled ? scaled.spec.minReplicaCount! : d.spec.replicas!
        const pdb = named(set, 'PodDisruptionBudget', d.metadata.name)
        expect(pdb !== undefined, `${set} ${d.metadata.name} (${least})`).toBe(least > 1)
        if (pdb) expect(pdb.spec.selector!.matchLabels).toEqual(d.spec.selector!.matchLabels)
      }
    }
    expect(objects('scaled', 'PodDisruptionBudget')).toHaveLength(MODULES.length)
  })

  it('refuses to render more than one sink or query API without a ClickHouse server, saying what to set', async () => {
    for (const target of ['clickhouse-sink', 'query-api']) {
      const message = await renderFailure('default-values.yaml', [`targets.${target}.replicas=2`])
      expect(message).toContain(`targets.${target}.replicas=2 needs clickhouse.url`)
      expect(message).toContain('embedded ClickHouse')
    }
    // With a server, the same values render.
    await run(helm, ['template', 'sluice', CHART, '-f', path.join(CHART, 'ci/default-values.yaml'), '--set', 'targets.clickhouse-sink.replicas=2', '--set', 'clickhouse.url=http://ch:8123'])
  })

  it('refuses values that cannot run: auth without keys, more consumers than partitions, an unknown target', async () => {
    expect(await renderFailure('default-values.yaml', ['auth.apiKeys='])).toContain('auth.enabled=true needs API keys')
    expect(await renderFailure('default-values.yaml', ['targets.enricher.replicas=13'])).toContain('targets.enricher: 13 instances but kafka.topicPartitions=12')
    expect(await renderFailure('scaled-values.yaml', ['targets.alerter.keda.maxReplicas=25'])).toContain('targets.alerter: 25 instances but kafka.topicPartitions=24')
    expect(await renderFailure('default-values.yaml', ['targets.worker.replicas=1'])).toContain('targets.worker: unknown target')
  })

  it('sets only variables Sluice reads, and each process accepts every value', async () => {
    // The gateway reads its TLS files at start: a certificate where the Secret is mounted.
    const certs = await makeCerts()
    onTestFinished(() => certs.remove())
    const mounted: Record<string, string> = { '/etc/sluice/tls/tls.crt': certs.certFile, '/etc/sluice/tls/tls.key': certs.keyFile, '/etc/sluice/tls/ca.crt': certs.caFile }
    const all = new Set([runtimeEnv, ...MODULES.map((m) => m.envSchema)].flatMap((s) => envNames(s)))
    for (const set of SETS) {
      for (const cm of objects(set, 'ConfigMap')) for (const key of Object.keys(cm.data ?? {})) expect(all.has(key), `${set} ${cm.metadata.name} sets ${key}, which Sluice does not read`).toBe(true)
      for (const d of objects(set, 'Deployment')) {
        const c = d.spec.template!.spec.containers[0]!
        const targets = c.args[2]!.split(',')
        const env = containerEnv(set, c)
        const known = new Set([...envNames(runtimeEnv), ...targets.flatMap((t) => envNames(module(t).envSchema))])
        for (const key of Object.keys(env)) expect(known.has(key), `${set} ${d.metadata.name} gets ${key}, which none of ${targets.join(',')} reads`).toBe(true)
        expect(() => parseEnv(runtimeEnv, env), `${set} ${d.metadata.name}`).not.toThrow()
        const tlsFiles = ['GATEWAY_TLS_CERT_FILE', 'GATEWAY_TLS_KEY_FILE', 'GATEWAY_TLS_CLIENT_CA_FILE'].filter((k) => env[k] !== undefined)
        if (tlsFiles.length > 0) expect(c.volumeMounts?.some((m) => m.name === 'tls' && m.mountPath === '/etc/sluice/tls'), `${set} ${d.metadata.name} mounts its TLS Secret`).toBe(true)
        for (const k of tlsFiles) env[k] = mounted[env[k]!] ?? env[k]!
        for (const t of targets) expect(() => module(t).loadConfig(env), `${set} ${t}`).not.toThrow()
        // The keys file where the Secret is mounted.
        expect(env.SLUICE_API_KEYS_FILE).toBe('/etc/sluice/keys/api-keys.json')
      }
    }
  })

  it('scales each Kafka consumer with KEDA on the lag of the group and topic it really reads, within the partitions', () => {
    const scaled = objects('scaled', 'ScaledObject')
    expect(scaled.map((s) => s.metadata.name).sort()).toEqual(['sluice-alerter', 'sluice-clickhouse-sink', 'sluice-enricher'])
    for (const s of scaled) {
      const d = named('scaled', 'Deployment', s.spec.scaleTargetRef!.name)!
      const c = d.spec.template!.spec.containers[0]!
      const env = containerEnv('scaled', c)
      const config = module(c.args[2]!).loadConfig(env) as { groupId: string; topicRaw?: string; topic?: string; topicEnriched?: string }
      const topic = c.args[2] === 'enricher' ? config.topicRaw : c.args[2] === 'clickhouse-sink' ? config.topic : config.topicEnriched
      const trigger = s.spec.triggers![0]!
      expect(trigger.type).toBe('kafka')
      expect(trigger.metadata).toMatchObject({ bootstrapServers: env.KAFKA_BROKERS, consumerGroup: config.groupId, topic })
      expect(Number(trigger.metadata.lagThreshold)).toBeGreaterThan(0)
      expect(s.spec.maxReplicaCount).toBeLessThanOrEqual(Number(env.KAFKA_TOPIC_PARTITIONS))
      // KEDA owns the count.
      expect(d.spec.replicas).toBeUndefined()
    }
    // Renamed groups and topics are followed (the scaled set renames the enricher's).
    expect(named('scaled', 'ScaledObject', 'sluice-enricher')!.spec.triggers![0]!.metadata).toMatchObject({ consumerGroup: 'prod-enricher', topic: 'prod.logs.raw' })
  })

  it('scrapes /metrics of every process once with the ServiceMonitor', () => {
    const [sm, https] = objects('scaled', 'ServiceMonitor')
    expect(sm!.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })])
    expect(sm!.spec.endpoints?.[0]?.scheme).toBeUndefined()
    const selectedBy = (set: SetName, monitor: typeof sm) =>
      objects(set, 'Service')
        .filter((s) => Object.entries(monitor!.spec.selector!.matchLabels).every(([k, v]) => s.metadata.labels?.[k] === v))
        .map((s) => s.metadata.name)
        .sort()
    const selected = (set: SetName) => selectedBy(set, sm)
    // The scaled set's gateway serves HTTPS: its own ServiceMonitor scrapes it over HTTPS, the other none.
    expect(https!.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics', scheme: 'https' })])
    expect(selectedBy('scaled', https)).toEqual(['sluice-gateway'])
    expect([...selected('scaled'), ...selectedBy('scaled', https)].sort()).toEqual(MODULES.map((m) => `sluice-${m.name}`).sort())
    // Embedded: the query API is the sink's process, already scraped.
    expect(selected('default')).toEqual(MODULES.filter((m) => m.name !== 'query-api').map((m) => `sluice-${m.name}`).sort())
  })

  it('runs every pod as non-root on a read-only root filesystem, secrets only from the Secret', () => {
    for (const set of SETS) {
      for (const d of objects(set, 'Deployment')) {
        const pod = d.spec.template!.spec
        expect(pod.securityContext.runAsNonRoot, d.metadata.name).toBe(true)
        expect(pod.containers[0]!.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false })
      }
      for (const cm of objects(set, 'ConfigMap')) for (const key of Object.keys(cm.data ?? {})) expect(key, `${set} ${cm.metadata.name}`).not.toMatch(/PASSWORD|SECRET|_KEY$/)
    }
    expect(objects('existing-secret', 'Secret')).toEqual([])
  })
})
