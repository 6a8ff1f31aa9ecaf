// The enricher's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const enricher = defineModule({
  name: 'enricher',
  envSchema,
  port: { env: 'ENRICHER_PORT', default: 9101 },
  needs: { kafka: true, registry: true },
  loadConfig,
  // One record per enricher group: its latest template checkpoint.
  topics: (config) => [{ topic: config.topicTemplates, compacted: true, partitions: 1 }],
  create: createService,
})
