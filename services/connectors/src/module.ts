// The connectors' descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const connectors = defineModule({
  name: 'connectors',
  envSchema,
  port: { env: 'CONNECTORS_PORT', default: 9104 },
  needs: { kafka: true, registry: true },
  loadConfig,
  // Connections and checkpoints: one record per connection. Leases: empty, its partitions divided
  // among the instances (KAFKA_TOPIC_PARTITIONS of them: at most that many instances share the work).
  topics: (config) => [
    { topic: config.topicConnections, compacted: true, partitions: 1 },
    { topic: config.topicCheckpoints, compacted: true, partitions: 1 },
    { topic: config.topicLeases },
  ],
  create: createService,
})
