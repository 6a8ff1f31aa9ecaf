// docker-compose.yml cannot run on machines without Docker; this keeps it honest instead: every
// Sluice service exists, runs its own target, publishes its configured port, and sets only env
// vars its config schema knows.
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
  secrets?: string[]
  command?: string[]
  ports?: string[]
  environment?: Record<string, string | number>
}

const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>
  secrets?: Record<string, { file?: string }>
}
const processEnv = new Set(envNames(runtimeEnv))

describe('docker-compose.yml', () => {
  it('has one container per Sluice target plus the infrastructure, from official images', () => {
    for (const name of ['kafka', 'schema-registry', 'clickhouse', 'prometheus', 'grafana', ...MODULES.map((m) => m.name)]) expect(compose.services[name], name).toBeDefined()
    expect(compose.services.kafka?.image).toMatch(/^apache\/kafka:/)
    expect(compose.services.clickhouse?.image).toMatch(/^clickhouse\/clickhouse-server:/)
  })

  for (const m of MODULES) {
    it(`${m.name}: runs its target, publishes its port, and uses only env vars its config knows`, () => {
      const svc = compose.services[m.name]!
      expect(svc.command).toEqual(['run', '--target', m.name])
      const known = new Set(envNames(m.envSchema))
      const env = svc.environment ?? {}
      for (const key of Object.keys(env)) expect(known.has(key) || processEnv.has(key), `${m.name} sets unknown env var ${key}`).toBe(true)
      // The production example asks for keys at every door, from the keys secret.
      expect(env.SLUICE_AUTH).toBe('true')
      expect(svc.secrets).toContain('sluice-api-keys')
      expect(env.SLUICE_API_KEYS_FILE).toBe('/run/secrets/sluice-api-keys')
      const port = Number(env[m.port.env] ?? m.port.default)
      expect(m.envSchema.shape[m.port.env]).toBeDefined()
      expect(svc.ports).toContain(`${port}:${port}`)
      // The parsed config accepts exactly what compose sets.
      expect(() => m.loadConfig(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])))).not.toThrow()
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
