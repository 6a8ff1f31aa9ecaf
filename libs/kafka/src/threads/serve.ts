// The thread side of a transform thread (pool.ts has the other side). A thread module builds its
// transform with a factory and calls `serveTransform(factory)` at its top level: on a transform
// thread that answers "ready" (or why it could not start), then one response per request, in
// order, results transferred rather than copied; imported anywhere else it does nothing, so the
// same module also gives the factory to a pool running the transform on the main thread.
import { isMainThread, parentPort, workerData } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import { errorMessage, isSluiceError } from '@sluice/core'
import { createRegistry } from '@sluice/observability'
import type { Registry } from '@sluice/observability'
import type { Ready, RecordTransform, Request, Response, ThreadData, ThreadTransformFactory } from './protocol.js'

async function answer(req: Request, t: RecordTransform, registry: Registry): Promise<[Response, TransferListItem[]]> {
  switch (req.op) {
    case 'run': {
      const value = await t.run(req.chunk)
      return [{ id: req.id, ok: true, value }, [value.bytes.buffer, value.ends.buffer, ...(value.starts ? [value.starts.buffer] : [])]]
    }
    case 'restore':
      return [{ id: req.id, ok: true, value: await t.restore(req.snapshot) }, []]
    case 'snapshot':
      return [{ id: req.id, ok: true, value: await t.snapshot(req.sinceRevision) }, []]
    case 'metrics':
      return [{ id: req.id, ok: true, value: await registry.getMetricsAsJSON() }, []]
  }
}

export function serveTransform(factory: ThreadTransformFactory): void {
  const data = workerData as Partial<ThreadData> | null
  if (isMainThread || !parentPort || !data?.sluiceTransformThread) return
  const port = parentPort
  const registry = createRegistry({ defaultMetrics: false })
  void (async () => {
    let transform: RecordTransform
    try {
      transform = await factory(data.init, { registry })
    } catch (err) {
      port.postMessage({ ready: false, error: errorMessage(err) } satisfies Ready)
      return
    }
    // Requests are answered strictly in order: the transform's state sees records in the order
    // the consumer read them.
    let queue = Promise.resolve()
    port.on('message', (req: Request) => {
      queue = queue.then(async () => {
        try {
          const [res, transfer] = await answer(req, transform, registry)
          port.postMessage(res, transfer)
        } catch (err) {
          port.postMessage({ id: req.id, ok: false, error: { message: errorMessage(err), ...(isSluiceError(err) && { code: err.code, canRetry: err.canRetry }) } } satisfies Response)
        }
      })
    })
    port.postMessage({ ready: true } satisfies Ready)
  })()
}

export type { RecordTransform, ThreadFailure, ThreadResult, ThreadSnapshot, ThreadTransformFactory } from './protocol.js'
export { pack, unpack, startOf } from './packed.js'
export type { Packed } from './packed.js'
