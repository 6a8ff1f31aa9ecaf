// @sluice/config — zod env parsing shared by every service.
export { parseEnv, envNames, ConfigError, readConfigFile } from './parse.js'
export type { Env } from './parse.js'
export { port, positiveInt, bool, commaList, commonEnv, kafkaEnv, registryEnv, clickhouseEnv, notificationsTopic } from './fields.js'
