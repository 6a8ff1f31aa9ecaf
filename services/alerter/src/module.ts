// The alerter's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const alerter = defineModule({
  name: 'alerter',
  envSchema,
  port: { env: 'ALERTER_PORT', default: 9103 },
  needs: { kafka: true, registry: true },
  loadConfig,
  // One record per input partition: the latest checkpoint of its alert state.
  topics: (config) => [{ topic: config.topicState, compacted: true, partitions: 1 }],
  create: createService,
})
