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
  // The state topic: one record per input partition, the latest checkpoint of its alert state.
  // The channels and the inbox: one record per channel and per inbox item.
  topics: (config) => [
    { topic: config.topicState, compacted: true, partitions: 1 },
    { topic: config.topicChannels, compacted: true, partitions: 1 },
    { topic: config.topicNotifications, compacted: true, partitions: 1 },
    // Forwarded acknowledgements and resolves: read live, worth nothing after a minute.
    { topic: config.topicCommands, partitions: 1, retentionMs: 3_600_000 },
  ],
  create: createService,
})
