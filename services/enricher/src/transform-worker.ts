// The enricher's transform on its own thread (see transform-thread.ts for the protocol): builds
// the codecs and the transform from workerData, says "ready" (or why it could not start), then
// answers requests one at a time, in order. Results travel back by transfer, not by copy.
import { parentPort, workerData } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import type { LogEvent } from '@sluice/core'
import { errorMessage, isSluiceError } from '@sluice/core'
import { createRegistry } from '@sluice/observability'
import { AvroCodec, createRegistryClient } from '@sluice/registry'
import type { EnrichedLog } from './model.js'
import { createTransform } from './transform.js'
import type { Request, Response, ThreadInit } from './transform-thread.js'

const port = parentPort!
const init = (workerData as { init: ThreadInit }).init

async function start() {
  const schemaRegistry = createRegistryClient(init.registryUrl)
  const [rawCodec, enrichedCodec] = await Promise.all([
    AvroCodec.register<LogEvent>(schemaRegistry, init.raw.subject, init.raw.schema),
    AvroCodec.register<EnrichedLog>(schemaRegistry, init.enriched.subject, init.enriched.schema),
  ])
  const registry = createRegistry({ defaultMetrics: false })
  return { registry, transform: createTransform({ enricher: init.enricher, llm: init.llm, rawCodec, enrichedCodec, registry }) }
}

async function answer(req: Request, t: Awaited<ReturnType<typeof start>>): Promise<[Response, TransferListItem[]]> {
  switch (req.op) {
    case 'run': {
      const value = await t.transform.run(req.chunk)
      return [{ id: req.id, ok: true, value }, [value.bytes.buffer, value.ends.buffer]]
    }
    case 'restore':
      return [{ id: req.id, ok: true, value: await t.transform.restore(req.snapshot) }, []]
    case 'snapshot':
      return [{ id: req.id, ok: true, value: await t.transform.snapshot(req.sinceRevision) }, []]
    case 'metrics':
      return [{ id: req.id, ok: true, value: await t.registry.getMetricsAsJSON() }, []]
  }
}

try {
  const t = await start()
  // Requests are answered strictly in order: the transform's state (the miner) sees records in
  // the order the consumer read them.
  let queue = Promise.resolve()
  port.on('message', (req: Request) => {
    queue = queue.then(async () => {
      try {
        const [res, transfer] = await answer(req, t)
        port.postMessage(res, transfer)
      } catch (err) {
        port.postMessage({ id: req.id, ok: false, error: { message: errorMessage(err), ...(isSluiceError(err) && { code: err.code, canRetry: err.canRetry }) } } satisfies Response)
      }
    })
  })
  port.postMessage({ ready: true })
} catch (err) {
  port.postMessage({ ready: false, error: errorMessage(err) })
}
