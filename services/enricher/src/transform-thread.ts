// The enricher's transform on a worker thread, so decoding, enrichment and encoding run beside
// the event loop that does the Kafka I/O (one core each) instead of taking turns with it.
//
// Each thread is stateful (its template miner), so records are routed to threads by key
// (transform-pool.ts), not handed to whichever is free. Protocol: workerData carries ThreadInit; the worker answers {ready} once its codecs are
// registered, then one Response per Request, in order. Chunks and results are transferred.
//
// The thread dying (a crash, out of memory) fails the requests in flight with a retryable
// TRANSFORM_FAILED (the consumer retries the chunk) and the next request starts a new thread,
// restored from the latest template snapshot this side has seen.
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import type { ErrorCode } from '@sluice/core'
import { SluiceError } from '@sluice/core'
import type { MetricsSource, Registry } from '@sluice/observability'
import { addMetricsSource } from '@sluice/observability'
import type { EnricherConfig } from './enrich.js'
import type { LlmOptions } from './llm.js'
import type { DrainSnapshot } from './drain.js'
import type { Packed, Transform, TransformResult } from './transform.js'

export interface CodecSpec {
  subject: string
  schema: object
}

export interface ThreadInit {
  enricher: EnricherConfig
  llm?: Omit<LlmOptions, 'registry'> | undefined
  registryUrl: string
  raw: CodecSpec
  enriched: CodecSpec
}

export type Request = { id: number } & (
  | { op: 'run'; chunk: Packed }
  | { op: 'restore'; snapshot: DrainSnapshot }
  | { op: 'snapshot'; sinceRevision: number }
  | { op: 'metrics' }
)

export type Response = { id: number } & ({ ok: true; value: unknown } | { ok: false; error: { message: string; code?: ErrorCode; canRetry?: boolean } })

type Ready = { ready: true } | { ready: false; error: string }

type Metrics = Awaited<ReturnType<MetricsSource>>

// From source (tsx, vitest) the worker is TypeScript: a small bootstrap registers tsx first. The
// bundle (dist/sluice.mjs) ships the worker beside itself as enricher-transform.mjs.
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const WORKER_URL = FROM_SOURCE ? new URL('./worker-boot.mjs', import.meta.url) : new URL('./enricher-transform.mjs', import.meta.url)
const WORKER_ENTRY = FROM_SOURCE ? new URL('./transform-worker.ts', import.meta.url).href : undefined

// Workers refuse V8 and process-wide flags (`--max-old-space-size` given to the process would make
// every thread fail to start; V8 flags reach the threads anyway): only profiling and diagnostics
// flags are passed on, with their values. From source, workspace packages resolve to TypeScript.
const PASSED_ON = /^--(cpu-prof|heap-prof|enable-source-maps|diagnostic-dir)/
const TAKES_VALUE = /^--(cpu-prof-(dir|name|interval)|heap-prof-(dir|name|interval)|diagnostic-dir)$/
function workerExecArgv(parent: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!
    if (!PASSED_ON.test(arg)) continue
    out.push(arg)
    if (TAKES_VALUE.test(arg) && parent[i + 1] !== undefined) out.push(parent[++i]!)
  }
  return FROM_SOURCE ? [...out, '--conditions=source'] : out
}
const WORKER_EXEC_ARGV = workerExecArgv(process.execArgv)

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

export class TransformThread implements Transform {
  readonly #init: ThreadInit
  readonly #log: Logger
  readonly #maxHeapMb: number | undefined
  #removeMetrics = () => {}
  readonly #pending = new Map<number, Pending>()
  #worker: Promise<Worker> | undefined
  #seq = 0
  #closed = false
  /** The latest template snapshot restored or taken: what a replacement thread starts from. */
  #latest: DrainSnapshot | undefined

  private constructor(init: ThreadInit, logger: Logger, maxHeapMb: number | undefined) {
    this.#init = init
    this.#log = logger.child({ component: 'transform-thread' })
    this.#maxHeapMb = maxHeapMb
  }

  /**
   * Starts the thread; rejects with the worker's reason if it cannot start (bad rules file,
   * registry down). The thread's metrics (stage timings, categories, templates, LLM) are served
   * with `registry`'s. A thread whose heap outgrows `maxHeapMb` is ended and replaced.
   */
  static async start(init: ThreadInit, o: { logger: Logger; registry: Registry; maxHeapMb?: number | undefined }): Promise<TransformThread> {
    const t = new TransformThread(init, o.logger, o.maxHeapMb)
    await t.#ensure()
    t.#removeMetrics = addMetricsSource(o.registry, () => t.#metrics())
    return t
  }

  run(chunk: Packed): Promise<TransformResult> {
    return this.#call({ op: 'run', chunk }, [chunk.bytes.buffer, chunk.ends.buffer, ...(chunk.starts ? [chunk.starts.buffer] : [])]) as Promise<TransformResult>
  }

  async restore(snapshot: DrainSnapshot): Promise<number> {
    const clusters = (await this.#call({ op: 'restore', snapshot })) as number
    this.#latest = snapshot
    return clusters
  }

  async snapshot(sinceRevision: number): Promise<{ snapshot: DrainSnapshot; revision: number } | undefined> {
    const taken = (await this.#call({ op: 'snapshot', sinceRevision })) as { snapshot: DrainSnapshot; revision: number } | undefined
    if (taken) this.#latest = taken.snapshot
    return taken
  }

  #metrics(): Promise<Metrics> {
    return this.#call({ op: 'metrics' }) as Promise<Metrics>
  }

  async close(): Promise<void> {
    this.#removeMetrics()
    this.#closed = true
    const worker = this.#worker
    this.#worker = undefined
    if (worker) await (await worker.catch(() => undefined))?.terminate()
  }

  async #call(req: { op: Request['op'] } & Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#closed) throw new SluiceError('SHUTTING_DOWN', 'the transform thread is closed')
    return this.#send(await this.#ensure(), req, transfer)
  }

  #send(worker: Worker, req: { op: Request['op'] } & Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const id = ++this.#seq
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      worker.postMessage({ ...req, id }, transfer)
    })
  }

  #ensure(): Promise<Worker> {
    if (this.#worker) return this.#worker
    const started = this.#spawn()
    this.#worker = started
    started.catch(() => {
      if (this.#worker === started) this.#worker = undefined
    })
    return started
  }

  async #spawn(): Promise<Worker> {
    const worker = new Worker(WORKER_URL, {
      workerData: { entry: WORKER_ENTRY, init: this.#init },
      execArgv: WORKER_EXEC_ARGV,
      ...(this.#maxHeapMb !== undefined && { resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb } }),
    })
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        off()
        reject(new SluiceError('TRANSFORM_FAILED', `enricher transform thread failed to start: ${err.message}`, { cause: err, canRetry: true }))
      }
      const exited = (code: number) => fail(new Error(`exited with code ${code}`))
      const ready = (m: Ready) => {
        off()
        if (m.ready) return resolve()
        void worker.terminate()
        reject(new SluiceError('CONFIG_INVALID', `enricher transform thread failed to start: ${m.error}`))
      }
      // Only these listeners: the Worker keeps listeners of its own.
      const off = () => {
        worker.off('error', fail)
        worker.off('exit', exited)
        worker.off('message', ready)
      }
      worker.on('error', fail)
      worker.on('exit', exited)
      worker.on('message', ready)
    })
    worker.on('message', (res: Response) => {
      const p = this.#pending.get(res.id)
      if (!p) return
      this.#pending.delete(res.id)
      if (res.ok) p.resolve(res.value)
      else p.reject(new SluiceError(res.error.code ?? 'TRANSFORM_FAILED', res.error.message, { canRetry: res.error.canRetry ?? false }))
    })
    worker.on('error', (err) => this.#log.error({ err }, 'transform thread crashed'))
    worker.on('exit', (code) => {
      if (this.#worker !== undefined && !this.#closed) this.#log.warn({ code }, 'transform thread exited; the next chunk starts a new one')
      this.#worker = undefined
      const failed = new SluiceError('TRANSFORM_FAILED', `the transform thread exited (code ${code}) with the request in flight`, { canRetry: true })
      for (const p of this.#pending.values()) p.reject(failed)
      this.#pending.clear()
    })
    if (this.#latest) {
      // A replacement thread: pick the templates up where the last snapshot left them.
      await this.#send(worker, { op: 'restore', snapshot: this.#latest }).catch((err: unknown) => this.#log.warn({ err }, 'restoring templates into the new transform thread failed'))
    }
    return worker
  }
}
