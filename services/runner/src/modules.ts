// The one list of Sluice's services. The runtime iterates it (in this order: consumers before the
// gateway, the ClickHouse sink before the alerter so a consumer they share joins the sink's
// group), and `sluice env`, the README test and the compose test read it.
import { alerter } from '@sluice/alerter'
import { clickhouseSink } from '@sluice/clickhouse-sink'
import { connectors } from '@sluice/connectors'
import { enricher } from '@sluice/enricher'
import { gateway } from '@sluice/gateway'
import { queryApi } from '@sluice/query-api'
import { wsFanout } from '@sluice/ws-fanout'

export const MODULES = [queryApi, clickhouseSink, enricher, alerter, wsFanout, connectors, gateway] as const

export type Target = (typeof MODULES)[number]['name']

/** Every target, in the order `--target all` starts them. */
export const TARGETS: readonly Target[] = MODULES.map((m) => m.name)

export function parseTargets(spec: string): Target[] {
  const parts = spec.split(',').map((s) => s.trim()).filter(Boolean)
  if (parts.includes('all')) return [...TARGETS]
  const unknown = parts.filter((p) => !(TARGETS as readonly string[]).includes(p))
  if (unknown.length > 0 || parts.length === 0) {
    throw new Error(`unknown target(s) ${unknown.join(', ') || '(none)'}: choose from all, ${TARGETS.join(', ')}`)
  }
  return TARGETS.filter((t) => parts.includes(t))
}
