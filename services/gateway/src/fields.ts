// Per-request field mapping for records whose names Sluice does not know: which field holds the
// message, the time, the level, the service, the host. The model is VictoriaLogs' `_msg_field`
// and `_time_field`: query parameters, or the same as `X-Sluice-*-Field` headers (for shippers
// that cannot add query parameters); each a comma-separated list, the first field set wins.
//   POST /v1/logs?_msg_field=log&_time_field=date&_service_field=kubernetes.container_name
import type { FastifyRequest } from 'fastify'
import { z } from 'zod'
import { SluiceError } from '@sluice/core'
import type { FieldMapping, FieldRole } from '@sluice/core'

const PARAMS: Readonly<Record<FieldRole, string>> = {
  message: 'msg',
  timestamp: 'time',
  level: 'level',
  service: 'service',
  host: 'host',
}

const MAX_NAMES = 16

/**
 * The mapping parameters as a query-string schema, for the routes' OpenAPI descriptions. It lets
 * any value through: fieldMapping() checks them and names a bad one.
 */
export const fieldMappingQuery = z.looseObject(
  Object.fromEntries(
    Object.entries(PARAMS).map(([role, name]) => [
      `_${name}_field`,
      z.union([z.string(), z.array(z.string())]).optional().describe(`comma-separated names of the fields holding the ${role} (or header X-Sluice-${name[0]!.toUpperCase()}${name.slice(1)}-Field)`),
    ]),
  ),
)

/** The request's mapping, or undefined when it names none. Throws VALIDATION_FAILED naming a bad parameter. */
export function fieldMapping(req: FastifyRequest): FieldMapping | undefined {
  const query = req.query as Record<string, unknown> | undefined
  let mapping: FieldMapping | undefined
  for (const role of Object.keys(PARAMS) as FieldRole[]) {
    const param = `_${PARAMS[role]}_field`
    const header = `x-sluice-${PARAMS[role]}-field`
    const fromQuery = query?.[param]
    const raw = fromQuery ?? req.headers[header]
    if (raw === undefined) continue
    const where = fromQuery === undefined ? `header ${header}` : `query parameter ${param}`
    if (typeof raw !== 'string') throw new SluiceError('VALIDATION_FAILED', `${where}: give it once, as a comma-separated list`)
    const names = raw.split(',').map((n) => n.trim())
    if (names.length > MAX_NAMES || names.some((n) => n.length === 0 || n.length > 256)) {
      throw new SluiceError('VALIDATION_FAILED', `${where}: expected up to ${MAX_NAMES} comma-separated field names of 1-256 characters`)
    }
    mapping = { ...mapping, [role]: names }
  }
  return mapping
}
