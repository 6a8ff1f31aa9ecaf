// One transform thread, seen from the main thread: a RecordTransform whose work runs on a worker
// thread (serve.ts is the other side), so transforms run beside the event loop that does the
// Kafka I/O instead of taking turns with it. Chunks and results are transferred, not copied.
//
// The thread dying (a crash, out of heap) fails the requests in flight with a retryable
// TRANSFORM_FAILED (the runner retries the chunk) and the next request starts a new thread,
// restored from the latest snapshot this side has seen.
import { Worker } from 'node:worker_threads'
import type { Logger } from 'pino'
import { SluiceError } from '@sluice/core'
import type { MetricsSource, Registry } from '@sluice/observability'
import { addMetricsSource } from '@sluice/observability'
import type { Packed } from './packed.js'
import type { Ready, RecordTransform, Request, Response, ThreadData, ThreadResult, ThreadSnapshot } from './protocol.js'

type Metrics = Awaited<ReturnType<MetricsSource>>

// From source (tsx, vitest) the thread module is TypeScript: boot.mjs registers tsx first. The
// bundle ships each thread module as JavaScript beside itself.
const BOOT_URL = new URL('./boot.mjs', import.meta.url)

// Threads refuse V8 and process-wide flags (`--max-old-space-size` given to the process would make
// every thread fail to start; V8 flags reach the threads anyway): only profiling and diagnostics
// flags are passed on, with their values. From source, workspace packages resolve to TypeScript.
const PASSED_ON = /^--(cpu-prof|heap-prof|enable-source-maps|diagnostic-dir)/
const TAKES_VALUE = /^--(cpu-prof-(dir|name|interval)|heap-prof-(dir|name|interval)|diagnostic-dir)$/
function threadExecArgv(parent: readonly string[], fromSource: boolean): string[] {
  const out: string[] = []
  for (let i = 0; i < parent.length; i++) {
    const arg = parent[i]!
    if (!PASSED_ON.test(arg)) continue
    out.push(arg)
    if (TAKES_VALUE.test(arg) && parent[i + 1] !== undefined) out.push(parent[++i]!)
  }
  return fromSource ? [...out, '--conditions=source'] : out
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (err: Error) => void
}

export interface TransformThreadOptions {
  /** The thread module: it calls serveTransform(factory) at its top level. */
  module: URL
  /** Given to the module's factory (structured-cloned). */
  init: unknown
  logger: Logger
  /** Where the thread's own metrics are served from. */
  registry: Registry
  /** A thread whose heap outgrows this is ended and replaced. */
  maxHeapMb?: number | undefined
}

export class TransformThread implements RecordTransform {
  readonly #o: TransformThreadOptions
  readonly #log: Logger
  readonly #fromSource: boolean
  #removeMetrics = () => {}
  readonly #pending = new Map<number, Pending>()
  #worker: Promise<Worker> | undefined
  #seq = 0
  #closed = false
  /** The latest snapshot restored or taken: what a replacement thread starts from. */
  #latest: unknown

  private constructor(o: TransformThreadOptions) {
    this.#o = o
    this.#log = o.logger.child({ component: 'transform-thread' })
    this.#fromSource = o.module.pathname.endsWith('.ts')
  }

  /** Starts the thread; rejects with the thread's reason if it cannot start (bad rules file, registry down). */
  static async start(o: TransformThreadOptions): Promise<TransformThread> {
    const t = new TransformThread(o)
    await t.#ensure()
    t.#removeMetrics = addMetricsSource(o.registry, () => t.#call({ op: 'metrics' }) as Promise<Metrics>)
    return t
  }

  run(chunk: Packed): Promise<ThreadResult> {
    return this.#call({ op: 'run', chunk }, [chunk.bytes.buffer, chunk.ends.buffer, ...(chunk.starts ? [chunk.starts.buffer] : [])]) as Promise<ThreadResult>
  }

  async restore(snapshot: unknown): Promise<number> {
    const n = (await this.#call({ op: 'restore', snapshot })) as number
    this.#latest = snapshot
    return n
  }

  async snapshot(sinceRevision: number): Promise<ThreadSnapshot | undefined> {
    const taken = (await this.#call({ op: 'snapshot', sinceRevision })) as ThreadSnapshot | undefined
    if (taken) this.#latest = taken.snapshot
    return taken
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
    const data: ThreadData = { sluiceTransformThread: true, module: this.#o.module.href, init: this.#o.init }
    const worker = new Worker(this.#fromSource ? BOOT_URL : this.#o.module, {
      workerData: data,
      execArgv: threadExecArgv(process.execArgv, this.#fromSource),
      ...(this.#o.maxHeapMb !== undefined && { resourceLimits: { maxOldGenerationSizeMb: this.#o.maxHeapMb } }),
    })
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        off()
        reject(new SluiceError('TRANSFORM_FAILED', `transform thread failed to start: ${err.message}`, { cause: err, canRetry: true }))
      }
      const exited = (code: number) => fail(new Error(`exited with code ${code}`))
      const ready = (m: Ready) => {
        off()
        if (m.ready) return resolve()
        void worker.terminate()
        reject(new SluiceError('CONFIG_INVALID', `transform thread failed to start: ${m.error}`))
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
    if (this.#latest !== undefined) {
      // A replacement thread: pick the state up where the last snapshot left it.
      await this.#send(worker, { op: 'restore', snapshot: this.#latest }).catch((err: unknown) => this.#log.warn({ err }, 'restoring state into the new transform thread failed'))
    }
    return worker
  }
}
