// The ws-fanout's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const wsFanout = defineModule({
  name: 'ws-fanout',
  envSchema,
  port: { env: 'WS_PORT', default: 8090 },
  needs: { kafka: true, registry: true },
  loadConfig,
  create: createService,
})
