// The alerter's notification API: channels (create, list, get, update, delete, test) and the
// in-app inbox (list, mark read/unread, delete; one by one or in bulk). Tenant-scoped: the tenant
// of the request's key (SLUICE_AUTH=true; naming another is a 403), else the x-sluice-tenant or
// X-Scope-OrgID header, else ?tenant=, else ALERTER_DEFAULT_TENANT. Channel changes are audited.
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { TENANT_HEADERS, requestedTenant } from '@sluice/auth'
import { z } from 'zod'
import { ALERT_SEVERITIES, ALERT_STATUSES, TENANT_PATTERN, nowNs } from '@sluice/core'
import type { Alert } from '@sluice/core'
import type { ZodTypeProvider } from '@sluice/observability'
import { channelSchema, redactChannel, withKeptSecrets } from './channels.js'
import type { ChannelSpec } from './channels.js'
import type { ChannelStore } from './channel-store.js'
import type { Inbox } from './inbox.js'
import type { ChannelEntry, Notifier } from './notify.js'


export interface NotificationApiParts {
  notifier: Notifier
  channels: ChannelStore
  inbox: Inbox
  defaultTenant: string
}

const tenantQuery = z.object({ tenant: z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -').optional() })
const nameParam = z.object({ name: z.string().min(1).max(64) })
/** A comma-separated filter; empty (`severity=`) filters nothing, as if absent. */
const csv = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.enum(values)))
    .transform((list) => (list.length === 0 ? undefined : list))
    .optional()
const inboxQuery = tenantQuery.extend({
  read: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  severity: csv(ALERT_SEVERITIES),
  status: csv(ALERT_STATUSES),
  service: z.string().min(1).max(256).optional(),
  alert_id: z.string().min(1).max(256).optional(),
  before: z.string().min(1).max(300).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})
const selection = z
  .object({
    ids: z.array(z.string().min(1).max(300)).min(1).max(1000).optional(),
    all: z.literal(true).optional(),
    by: z.string().min(1).max(200).default('api'),
  })
  .strict()
  .refine((b) => (b.ids === undefined) !== (b.all === undefined), 'give either "ids" (a list) or "all": true')

export function registerNotificationRoutes(plain: FastifyInstance, parts: NotificationApiParts): void {
  const api = plain.withTypeProvider<ZodTypeProvider>()
  const { notifier, channels, inbox } = parts
  /** The tenant a request acts as; throws FORBIDDEN (another tenant than its key's) or VALIDATION_FAILED. */
  const tenantOf = (req: FastifyRequest): string =>
    req.access.tenant(requestedTenant(req, TENANT_HEADERS, (req.query as { tenant?: string | undefined }).tenant), parts.defaultTenant)
  const audit = (req: FastifyRequest, action: 'channel.create' | 'channel.update' | 'channel.delete', tenant: string, name: string, spec?: ChannelSpec) =>
    req.access.audit({ action, outcome: 'ok', tenant, target: name, ...(spec && { details: { kind: spec.kind } }) })
  const show = (e: ChannelEntry) => {
    const record = e.tenant === null ? undefined : channels.get(e.tenant, e.spec.name)
    return { ...redactChannel(e.spec), source: e.source, read_only: e.source === 'env', tenant: e.tenant, created_at: record?.created_at ?? null, updated_at: record?.updated_at ?? null }
  }
  const notFound = (reply: FastifyReply, name: string, tenant: string) => reply.code(404).send({ error: 'NOT_FOUND', message: `no notification channel ${name} for tenant ${tenant}` })
  const readOnly = (reply: FastifyReply, name: string) =>
    reply.code(409).send({ error: 'CONFLICT', message: `channel ${name} comes from the environment (ALERTER_WEBHOOK_URLS / ALERTER_SLACK_WEBHOOK_URLS) and is read-only` })
  /** Validates a channel document, secrets left out of an update kept from the stored one. */
  const parseChannel = (body: unknown, name: string | undefined, previous: ChannelEntry | undefined) => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false as const, message: 'body: expected a JSON object' }
    const input = withKeptSecrets({ ...(body as Record<string, unknown>), ...(name === undefined ? {} : { name }) }, previous?.spec)
    const parsed = channelSchema.safeParse(input)
    if (parsed.success) return { ok: true as const, spec: parsed.data }
    return { ok: false as const, message: parsed.error.issues.map((i) => `${i.path.length === 0 ? 'body' : i.path.join('.')}: ${i.message}`).join('; ') }
  }
  const tags = ['notification channels']
  const channelBody = { body: z.unknown().describe('A channel: {"name":"ops","kind":"webhook","url":"https://…"}; see the README for every field.') }

  api.get('/v1/notification-channels', { schema: { tags, summary: "The tenant's channels and the environment's (secrets never shown)", querystring: tenantQuery } }, async (req) => {
    const tenant = tenantOf(req)
    return { channels: notifier.list(tenant).map(show), unreadable: channels.broken(tenant) }
  })

  api.post('/v1/notification-channels', { schema: { tags, summary: 'Create a channel (409 if the name is taken)', querystring: tenantQuery, ...channelBody } }, async (req, reply) => {
    const tenant = tenantOf(req)
    const parsed = parseChannel(req.body, undefined, undefined)
    if (!parsed.ok) return reply.code(400).send({ error: 'VALIDATION_FAILED', message: parsed.message })
    if (notifier.get(null, parsed.spec.name)) return readOnly(reply, parsed.spec.name)
    if (notifier.get(tenant, parsed.spec.name)) return reply.code(409).send({ error: 'CONFLICT', message: `channel ${parsed.spec.name} exists; PUT /v1/notification-channels/${parsed.spec.name} replaces it` })
    await channels.put(tenant, parsed.spec)
    audit(req, 'channel.create', tenant, parsed.spec.name, parsed.spec)
    return reply.code(201).send({ channel: show(notifier.get(tenant, parsed.spec.name)!) })
  })

  api.get('/v1/notification-channels/:name', { schema: { tags, summary: 'One channel', params: nameParam, querystring: tenantQuery } }, async (req, reply) => {
    const tenant = tenantOf(req)
    const e = notifier.get(tenant, req.params.name) ?? notifier.get(null, req.params.name)
    return e === undefined ? notFound(reply, req.params.name, tenant) : { channel: show(e) }
  })

  api.put(
    '/v1/notification-channels/:name',
    { schema: { tags, summary: 'Create or replace a channel; secrets left out (url, headers, smtp.password) keep their stored values', params: nameParam, querystring: tenantQuery, ...channelBody } },
    async (req, reply) => {
      const tenant = tenantOf(req)
      if (notifier.get(null, req.params.name)) return readOnly(reply, req.params.name)
      const previous = notifier.get(tenant, req.params.name)
      const body = req.body as Record<string, unknown> | null
      if (body !== null && typeof body === 'object' && body.name !== undefined && body.name !== req.params.name) {
        return reply.code(400).send({ error: 'VALIDATION_FAILED', message: `name: the body names ${String(body.name)}, the path ${req.params.name}` })
      }
      const parsed = parseChannel(req.body, req.params.name, previous)
      if (!parsed.ok) return reply.code(400).send({ error: 'VALIDATION_FAILED', message: parsed.message })
      await channels.put(tenant, parsed.spec)
      audit(req, previous === undefined ? 'channel.create' : 'channel.update', tenant, req.params.name, parsed.spec)
      return reply.code(previous === undefined ? 201 : 200).send({ channel: show(notifier.get(tenant, req.params.name)!) })
    },
  )

  api.delete('/v1/notification-channels/:name', { schema: { tags, summary: 'Delete a channel', params: nameParam, querystring: tenantQuery } }, async (req, reply) => {
    const tenant = tenantOf(req)
    if (notifier.get(null, req.params.name)) return readOnly(reply, req.params.name)
    if (!notifier.get(tenant, req.params.name) && !channels.get(tenant, req.params.name) && !channels.broken(tenant).some((b) => b.name === req.params.name)) {
      return notFound(reply, req.params.name, tenant)
    }
    await channels.delete(tenant, req.params.name)
    audit(req, 'channel.delete', tenant, req.params.name)
    return reply.code(204).send()
  })

  api.post(
    '/v1/notification-channels/:name/test',
    { schema: { tags, summary: "Send a test message through a channel (one attempt, no retry) and report the receiver's answer", params: nameParam, querystring: tenantQuery } },
    async (req, reply) => {
      const tenant = tenantOf(req)
      const owner = notifier.get(tenant, req.params.name) ? tenant : notifier.get(null, req.params.name) ? null : undefined
      if (owner === undefined) return notFound(reply, req.params.name, tenant)
      const result = await notifier.test(owner, req.params.name, testAlert(tenant, req.params.name))
      return { channel: req.params.name, ...result! }
    },
  )

  const inboxTags = ['notifications']
  api.get(
    '/v1/notifications',
    { schema: { tags: inboxTags, summary: 'The in-app inbox: alert status changes and the channels they went to, newest first', querystring: inboxQuery } },
    async (req, reply) => {
      const tenant = tenantOf(req)
      const q = req.query
      const page = inbox.query({ tenant, read: q.read, severity: q.severity, status: q.status, service: q.service, alert_id: q.alert_id, before: q.before, limit: q.limit })
      // A pager whose cursor was deleted or trimmed would otherwise start again at the first page.
      if (page === undefined) return reply.code(400).send({ error: 'VALIDATION_FAILED', message: `parameter before: no notification ${q.before} for tenant ${tenant} (deleted or trimmed since it was answered); page again from the start` })
      const { items, unread, total } = page
      const last = items.at(-1)
      return { notifications: items, unread, total, next_before: total > items.length && last !== undefined ? last.id : null }
    },
  )

  const bulk = (path: string, summary: string, run: (tenant: string, ids: string[] | undefined, by: string) => Promise<number>, field: string) =>
    api.post(path, { schema: { tags: inboxTags, summary, querystring: tenantQuery, body: selection } }, async (req) => {
      const tenant = tenantOf(req)
      return { [field]: await run(tenant, req.body.ids, req.body.by) }
    })
  bulk('/v1/notifications/mark-read', 'Mark notifications read: {"ids":[…]} or {"all":true}', (t, ids, by) => inbox.mark(t, ids, true, by), 'marked')
  bulk('/v1/notifications/mark-unread', 'Mark notifications unread: {"ids":[…]} or {"all":true}', (t, ids, by) => inbox.mark(t, ids, false, by), 'marked')
  bulk('/v1/notifications/delete', 'Delete notifications: {"ids":[…]} or {"all":true}', (t, ids) => inbox.delete(t, ids), 'deleted')

  api.delete(
    '/v1/notifications/:id',
    { schema: { tags: inboxTags, summary: 'Delete one notification', params: z.object({ id: z.string().min(1).max(300) }), querystring: tenantQuery } },
    async (req, reply) => {
      const tenant = tenantOf(req)
      if ((await inbox.delete(tenant, [req.params.id])) === 0) return reply.code(404).send({ error: 'NOT_FOUND', message: `no notification ${req.params.id} for tenant ${tenant}` })
      return reply.code(204).send()
    },
  )

  api.get(
    '/v1/notification-attempts',
    { schema: { tags: inboxTags, summary: "Delivery attempts made by this instance, newest first (the tenant's channels and the environment's)", querystring: tenantQuery.extend({ alert_id: z.string().min(1).max(256).optional() }) } },
    async (req) => {
      const tenant = tenantOf(req)
      return { attempts: notifier.attempts({ tenant, alertId: req.query.alert_id }) }
    },
  )
}

/** The alert a channel test sends: marked as a test in its rule, id and summary. */
function testAlert(tenant: string, channel: string): Alert {
  const now = nowNs()
  return {
    id: `test-${randomUUID()}`,
    tenant,
    rule_id: 'sluice-channel-test',
    rule_name: 'Sluice test notification',
    rule_kind: 'level',
    service: 'sluice-alerter',
    pattern_id: null,
    severity: 'info',
    status: 'firing',
    value: 0,
    threshold: 0,
    window_start: now,
    window_end: now,
    started_at: now,
    updated_at: now,
    resolved_at: null,
    acknowledged_by: null,
    resolved_by: null,
    resolve_reason: null,
    explanation: null,
    runbook: [],
    summary: `A test message from Sluice: channel ${channel} of tenant ${tenant} works.`,
    sample_log_ids: [],
    version: 1,
  }
}
