// The query API's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const queryApi = defineModule({
  name: 'query-api',
  envSchema,
  port: { env: 'QUERY_API_PORT', default: 8070 },
  needs: { clickhouse: true },
  loadConfig,
  create: createService,
})
