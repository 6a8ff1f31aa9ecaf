// @sluice/registry — schema registry client and Avro codecs (Confluent wire format).
export { AvroCodec, PrefixedEncoder, avroType, createRegistryClient, pingRegistry } from './codec.js'
export { loadAvsc, schemasDir } from './schemas.js'
export type { SchemaRegistry } from '@kafkajs/confluent-schema-registry'
