// Query API configuration (env → frozen config).
import { z } from 'zod'
import { clickhouseEnv, commonEnv, parseEnv, port, positiveInt } from '@sluice/config'
import type { Env } from '@sluice/config'

export const envSchema = z.object({
  ...commonEnv.shape,
  ...clickhouseEnv.shape,
  QUERY_API_PORT: port(8070),
  QUERY_MAX_LIMIT: positiveInt(1000),
})

export function loadConfig(env?: Env) {
  const e = parseEnv(envSchema, env)
  return Object.freeze({ host: e.HOST, port: e.QUERY_API_PORT, database: e.CLICKHOUSE_DATABASE, maxLimit: e.QUERY_MAX_LIMIT })
}

export type Config = ReturnType<typeof loadConfig>
