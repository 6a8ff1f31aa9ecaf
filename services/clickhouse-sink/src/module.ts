// The clickhouse-sink's descriptor for the runtime.
import { defineModule } from '@sluice/service'
import { envSchema, loadConfig } from './config.js'
import { createService } from './service.js'

export const clickhouseSink = defineModule({
  name: 'clickhouse-sink',
  envSchema,
  port: { env: 'SINK_PORT', default: 9102 },
  needs: { kafka: true, registry: true, clickhouse: true },
  loadConfig,
  create: createService,
})
