// Vitest global setup for the integration project: brings infrastructure up once per run and
// hands the endpoints to every test file through `inject('infra')`.
import type { TestProject } from 'vitest/node'
import { provideInfra } from './providers.js'
import type { Infra } from './providers.js'

declare module 'vitest' {
  export interface ProvidedContext {
    infra: Infra
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now()
  const handle = await provideInfra()
  process.stdout.write(`[infra] ${handle.infra.provider}: kafka ${handle.infra.kafkaBrokers}, registry ${handle.infra.registryUrl} (${Date.now() - started} ms)\n`)
  project.provide('infra', handle.infra)
  return () => handle.stop()
}
