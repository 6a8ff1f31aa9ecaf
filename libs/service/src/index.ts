// @sluice/service — the contract between services and the runtime: module descriptors and the
// dependencies the runtime hands a service.
export { defineModule } from './module.js'
export type { AnyServiceModule, BaseDeps, ClickHouseDeps, Clock, Codec, Codecs, DepsFor, Env, KafkaDeps, OwnTopic, RegistryDeps, ServiceInstance, ServiceModule, ServiceNeeds } from './module.js'
