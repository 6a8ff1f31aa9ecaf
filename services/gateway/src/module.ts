// The gateway's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const gateway = defineModule({
  name: 'gateway',
  envSchema,
  port: { env: 'GATEWAY_PORT', default: 8080 },
  needs: { kafka: true, registry: true },
  loadConfig,
  create: createService,
})
