// docker-compose.yml cannot run on machines without Docker; this keeps it honest instead: every
// Sluice service exists, runs its own target, publishes its configured port, and sets only env
// vars its config schema knows.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { envNames } from '@sluice/config'
import * as gateway from '@sluice/gateway'
import * as enricher from '@sluice/enricher'
import * as alerter from '@sluice/alerter'
import * as wsFanout from '@sluice/ws-fanout'
import * as sink from '@sluice/clickhouse-sink'
import * as queryApi from '@sluice/query-api'
import { TARGETS } from '@sluice/runner'
import { REPO_ROOT } from './infra/providers.js'

interface ComposeService {
  image?: string
  command?: string[]
  ports?: string[]
  environment?: Record<string, string | number>
}

const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, ComposeService> }

const sluiceServices: Record<string, { schema: z.ZodObject; portVar: string; defaultPort: number }> = {
  gateway: { schema: gateway.envSchema, portVar: 'GATEWAY_PORT', defaultPort: 8080 },
  enricher: { schema: enricher.envSchema, portVar: 'ENRICHER_PORT', defaultPort: 9101 },
  alerter: { schema: alerter.envSchema, portVar: 'ALERTER_PORT', defaultPort: 9103 },
  'clickhouse-sink': { schema: sink.envSchema, portVar: 'SINK_PORT', defaultPort: 9102 },
  'query-api': { schema: queryApi.envSchema, portVar: 'QUERY_API_PORT', defaultPort: 8070 },
  'ws-fanout': { schema: wsFanout.envSchema, portVar: 'WS_PORT', defaultPort: 8090 },
}

describe('docker-compose.yml', () => {
  it('has one container per Sluice target plus the infrastructure, from official images', () => {
    expect(Object.keys(sluiceServices).sort()).toEqual([...TARGETS].sort())
    for (const name of ['kafka', 'schema-registry', 'clickhouse', 'prometheus', 'grafana', ...TARGETS]) expect(compose.services[name], name).toBeDefined()
    expect(compose.services.kafka?.image).toMatch(/^apache\/kafka:/)
    expect(compose.services.clickhouse?.image).toMatch(/^clickhouse\/clickhouse-server:/)
  })

  for (const [name, spec] of Object.entries(sluiceServices)) {
    it(`${name}: runs its target, publishes its port, and uses only env vars its config knows`, () => {
      const svc = compose.services[name]!
      expect(svc.command).toEqual(['run', '--target', name])
      const known = new Set(envNames(spec.schema))
      const env = svc.environment ?? {}
      for (const key of Object.keys(env)) expect(known.has(key), `${name} sets unknown env var ${key}`).toBe(true)
      const port = Number(env[spec.portVar] ?? spec.defaultPort)
      expect(spec.schema.shape[spec.portVar]).toBeDefined()
      expect(svc.ports).toContain(`${port}:${port}`)
      // The parsed config accepts exactly what compose sets.
      expect(() => spec.schema.parse(Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)])))).not.toThrow()
    })
  }

  it('scrapes every Sluice service in the Prometheus config', () => {
    const prom = readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')
    for (const [name, spec] of Object.entries(sluiceServices)) expect(prom).toContain(`${name}:${spec.defaultPort}`)
  })
})
