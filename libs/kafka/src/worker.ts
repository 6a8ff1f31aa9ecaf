// The shell every consuming service shares: its BatchConsumer plus an HTTP server for /healthz,
// /readyz (dependencies and the consumer itself) and /metrics. Start consumes, then listens;
// close stops listening, then drains the consumer (flush, commit, leave the group). A service
// with several consumers hands the worker `allConsumers(...)`, which runs them as one.
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { HealthCheck, HealthReport, Registry } from '@sluice/observability'
import { createHttpApp, runHealthChecks } from '@sluice/observability'

/** What the worker needs of a BatchConsumer, whatever it carries. */
export interface RunnableConsumer {
  readonly running: boolean
  start(): Promise<void>
  close(): Promise<void>
}

/**
 * Several consumers as one: start starts each in turn (closing those already started if one
 * fails), close drains all of them in parallel, and it is running only while every one is.
 */
export function allConsumers(consumers: readonly RunnableConsumer[]): RunnableConsumer {
  const closeAll = async (list: readonly RunnableConsumer[]) => {
    const failed = (await Promise.allSettled(list.map((c) => c.close()))).flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []))
    if (failed.length > 0) throw new AggregateError(failed, `${failed.length} of ${list.length} consumer(s) failed to close`)
  }
  return {
    get running() {
      return consumers.every((c) => c.running)
    },
    async start() {
      const started: RunnableConsumer[] = []
      try {
        for (const c of consumers) {
          await c.start()
          started.push(c)
        }
      } catch (err) {
        await closeAll(started).catch(() => undefined)
        throw err
      }
    },
    close: () => closeAll(consumers),
  }
}

export interface ConsumerWorkerOptions<N extends string> {
  name: N
  consumer: RunnableConsumer
  logger: Logger
  registry: Registry
  checks: Record<string, HealthCheck>
  host: string
  port: number
}

export interface ConsumerWorker<N extends string> {
  name: N
  app: FastifyInstance
  start(): Promise<string>
  close(): Promise<void>
  health(): Promise<HealthReport>
}

export function consumerWorker<N extends string>(o: ConsumerWorkerOptions<N>): ConsumerWorker<N> {
  const checks: Record<string, HealthCheck> = {
    ...o.checks,
    consumer: async () => {
      if (!o.consumer.running) throw new Error('consumer not running')
    },
  }
  const app = createHttpApp({ logger: o.logger, registry: o.registry, checks })
  return {
    name: o.name,
    app,
    async start() {
      await o.consumer.start()
      return app.listen({ host: o.host, port: o.port })
    },
    async close() {
      await app.close()
      await o.consumer.close()
    },
    health: () => runHealthChecks(checks),
  }
}
