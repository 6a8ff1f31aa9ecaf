// Grafana and Prometheus can't run here, so their files are checked against the code: every
// sluice_* metric a dashboard panel or an alerting rule queries is one the services export.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { describe, expect, it } from 'vitest'
import { REPO_ROOT } from './infra/providers.js'

const STAGES = ['gateway', 'enricher', 'clickhouse-sink']

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name)
    if (name === 'node_modules') return []
    if (statSync(p).isDirectory()) return sources(p)
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : []
  })
}

function exportedMetrics(): Set<string> {
  const names = new Set<string>()
  for (const file of [...sources(path.join(REPO_ROOT, 'libs')), ...sources(path.join(REPO_ROOT, 'services'))]) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'(sluice_[a-z_]+)'/g)) names.add(m[1]!)
  }
  // Stage metrics are named from the stage (observability/src/metrics.ts stageMetrics).
  for (const stage of STAGES) for (const k of ['received', 'sent', 'dropped', 'errors']) names.add(`sluice_${stage.replace(/-/g, '_')}_events_${k}_total`)
  return names
}

const queried = (exprs: string[]) => [...new Set(exprs.flatMap((e) => [...e.matchAll(/\b(sluice_[a-z_]+)/g)].map((m) => m[1]!.replace(/_(bucket|sum|count)$/, ''))))]

describe('dashboards and alerting rules', () => {
  const known = exportedMetrics()

  it('query only metrics the services export', () => {
    const dashboard = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy/grafana/dashboards/sluice.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] }
    const rules = parse(readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/rules.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] }
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr))]
    const used = queried(exprs)
    expect(used.length).toBeGreaterThan(10)
    expect(used.filter((m) => !known.has(m))).toEqual([])
  })

  it('are wired into the compose stack', () => {
    const prom = readFileSync(path.join(REPO_ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')
    expect(prom).toContain('/etc/prometheus/rules.yml')
    const compose = readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')
    expect(compose).toContain('./deploy/grafana/dashboards:/var/lib/grafana/dashboards')
  })

  it("provision Sluice's logs as a Loki data source on the query API's compose address", () => {
    const file = parse(readFileSync(path.join(REPO_ROOT, 'deploy/grafana/provisioning/datasources/sluice-logs.yml'), 'utf8')) as { datasources: { type: string; url: string }[] }
    const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { environment?: Record<string, unknown> }> }
    const [ds] = file.datasources
    expect(ds!.type).toBe('loki')
    const url = new URL(ds!.url)
    expect(compose.services[url.hostname]).toBeDefined()
    expect(url.port).toBe(String(compose.services[url.hostname]!.environment!.QUERY_API_PORT))
  })
})
