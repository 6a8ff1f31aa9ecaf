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
  // The alerter's notification inbox (compacted, keyed by "<tenant>|<id>"), read live: created
  // here as well as by the alerter, so ws-fanout can subscribe to it when no alerter runs.
  topics: (config) => [{ topic: config.topicNotifications, compacted: true, partitions: 1 }],
  create: createService,
})
