// Public surface of @sluice/connectors: the service, its providers and their contract.
export { connectors } from './module.js'
export { createService, leaseOf } from './service.js'
export { loadConfig, envSchema } from './config.js'
export type { Config } from './config.js'
export { PROVIDERS } from './providers/index.js'
export { PROVIDER_KINDS, ProviderError } from './provider.js'
export type { Provider, ProviderClient, ProviderEvent, ProviderKind, Page, SluiceRecord } from './provider.js'
export { entryId } from './poller.js'
