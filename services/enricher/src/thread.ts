// The enricher's transform as a thread module: on a transform thread it builds its codecs from the
// registry (the subjects and schemas the main thread registered) and serves the transform
// (serveTransform); imported on the main thread it only exports the factory, which the runner
// uses when ENRICHER_TRANSFORM_THREADS=0. The bundle ships it as dist/enricher-thread.mjs.
import type { LogEvent } from '@sluice/core'
import { serveTransform } from '@sluice/kafka/thread'
import type { ThreadTransformFactory } from '@sluice/kafka/thread'
import { AvroCodec, createRegistryClient } from '@sluice/registry'
import type { EnricherConfig } from './enrich.js'
import type { LlmOptions } from './llm.js'
import type { EnrichedLog } from './model.js'
import { createTransform } from './transform.js'

export interface CodecSpec {
  subject: string
  schema: object
}

/** What every transform thread is built from (structured-cloned to it). */
export interface EnricherThreadInit {
  enricher: EnricherConfig
  llm?: Omit<LlmOptions, 'registry'> | undefined
  registryUrl: string
  raw: CodecSpec
  enriched: CodecSpec
}

export const createEnricherTransform: ThreadTransformFactory = async (init, { registry }) => {
  const i = init as EnricherThreadInit
  const schemaRegistry = createRegistryClient(i.registryUrl)
  const [rawCodec, enrichedCodec] = await Promise.all([
    AvroCodec.register<LogEvent>(schemaRegistry, i.raw.subject, i.raw.schema),
    AvroCodec.register<EnrichedLog>(schemaRegistry, i.enriched.subject, i.enriched.schema),
  ])
  return createTransform({ enricher: i.enricher, llm: i.llm, rawCodec, enrichedCodec, registry })
}

/** This module's file: the TypeScript source, or beside the bundle. */
export const ENRICHER_THREAD_MODULE = import.meta.url.endsWith('.ts') ? new URL('./thread.ts', import.meta.url) : new URL('./enricher-thread.mjs', import.meta.url)

serveTransform(createEnricherTransform)
