// Registered services: who owns a service and what it is, kept in <db>.services (schemas/
// clickhouse/0008), so the health overview (overview.ts) lists it whether or not it logs.
//
//   PUT    /v1/services/{name}   { owner?, description?, tier?, tags? }  → 200 { service }
//   DELETE /v1/services/{name}                                           → 204
// Tenant: the request's (tenancy.ts: `?tenant=`, x-sluice-tenant or X-Scope-OrgID, the key's), else `default`.
import type { FastifyInstance, FastifyReply } from 'fastify'
import type { ZodTypeProvider } from '@sluice/observability'
import { z } from 'zod'
import type { ClickHouseClient } from '@sluice/clickhouse'
import { Params, scopeFields } from '../selection.js'
import type { AnalystContext } from './context.js'

export const serviceName = z.object({ name: z.string().min(1).max(256) })
export const registration = z.strictObject({
  owner: z.string().max(256).default(''),
  description: z.string().max(4096).default(''),
  tier: z.string().max(64).default(''),
  tags: z.record(z.string().max(256), z.string().max(1024)).default({}),
})
const tenantQuery = z.strictObject({ tenant: scopeFields.tenant })

export interface Registered {
  service: string
  owner: string
  description: string
  tier: string
  tags: Record<string, string>
  updated_at: string
}

/** The registered services of a tenant (every tenant when undefined), latest state, deleted ones left out. */
export async function registeredServices(ctx: AnalystContext, reply: FastifyReply, tenant: string | undefined): Promise<Registered[]> {
  const p = new Params()
  return ctx.run<Registered>(reply, 'services', {
    query: `SELECT Name AS service, Owner AS owner, Description AS description, Tier AS tier, Tags AS tags, toString(UpdatedAt) AS updated_at
            FROM ${ctx.opts.database}.services FINAL
            WHERE ${tenant ? `tenant = ${p.bind(tenant)} AND ` : ''}Deleted = 0 ORDER BY service`,
    params: p.values,
  })
}

export function registerRegistry(app: FastifyInstance, ctx: AnalystContext, clickhouse: Pick<ClickHouseClient, 'command'>): void {
  const api = app.withTypeProvider<ZodTypeProvider>()
  const tags = ['analysts']
  const write = async (tenant: string, name: string, r: z.infer<typeof registration>, deleted: boolean) => {
    const p = new Params()
    await clickhouse.command({
      query: `INSERT INTO ${ctx.opts.database}.services (tenant, Name, Owner, Description, Tier, Tags, UpdatedAt, Deleted)
              VALUES (${p.bind(tenant)}, ${p.bind(name)}, ${p.bind(r.owner)}, ${p.bind(r.description)}, ${p.bind(r.tier)}, ${p.bind(r.tags, 'Map(String, String)')}, now64(3), ${deleted ? 1 : 0})`,
      query_params: p.values,
    })
  }

  api.put(
    '/v1/services/:name',
    { schema: { tags, summary: 'Register a service (or update its registration): owner, description, tier, tags', params: serviceName, querystring: tenantQuery, body: registration } },
    async (req) => {
      const tenant = ctx.access.tenant(req, 'default', req.query.tenant)
      await write(tenant, req.params.name, req.body, false)
      return { service: { service: req.params.name, tenant, ...req.body } }
    },
  )

  api.delete('/v1/services/:name', { schema: { tags, summary: 'Remove a service from the registry (its logs stay)', params: serviceName, querystring: tenantQuery } }, async (req, reply) => {
    const tenant = ctx.access.tenant(req, 'default', req.query.tenant)
    await write(tenant, req.params.name, registration.parse({}), true)
    return reply.code(204).send()
  })
}
