// `sluice` command line:
//   sluice run --target all | gateway,clickhouse-sink,query-api
//   sluice env            every environment variable, by target
// SIGTERM / SIGINT drain: stop accepting, flush batches, commit, disconnect, exit 0.
import { parseArgs } from 'node:util'
import { ConfigError, envNames } from '@sluice/config'
import * as gateway from '@sluice/gateway'
import * as enricher from '@sluice/enricher'
import * as alerter from '@sluice/alerter'
import * as wsFanout from '@sluice/ws-fanout'
import * as sink from '@sluice/clickhouse-sink'
import * as queryApi from '@sluice/query-api'
import { envSchema as runtimeEnv } from './config.js'
import { loadConfig, parseTargets, startRuntime } from './runtime.js'

const USAGE = `usage: sluice run [--target all|gateway,enricher,alerter,clickhouse-sink,query-api,ws-fanout]
       sluice env`

async function run(targetSpec: string): Promise<void> {
  const targets = parseTargets(targetSpec)
  const config = loadConfig()
  const runtime = await startRuntime({ targets })
  const { logger } = runtime
  for (const [target, address] of Object.entries(runtime.addresses)) {
    process.stdout.write(`sluice ${target} listening on ${address.replace('0.0.0.0', 'localhost')}\n`)
  }
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    logger.info({ signal }, 'draining')
    const timer = setTimeout(() => {
      logger.error('shutdown timed out')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    runtime
      .close()
      .then(() => {
        clearTimeout(timer)
        logger.info('stopped')
        process.exit(0)
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed')
        process.exit(1)
      })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}

function printEnv(): void {
  const groups: Record<string, string[]> = {
    process: envNames(runtimeEnv),
    gateway: envNames(gateway.envSchema),
    enricher: envNames(enricher.envSchema),
    alerter: envNames(alerter.envSchema),
    'clickhouse-sink': envNames(sink.envSchema),
    'query-api': envNames(queryApi.envSchema),
    'ws-fanout': envNames(wsFanout.envSchema),
  }
  for (const [name, vars] of Object.entries(groups)) process.stdout.write(`${name}: ${vars.join(' ')}\n`)
}

async function main(argv: string[]): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { target: { type: 'string', default: 'all' }, help: { type: 'boolean' } } })
  const [command] = positionals
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (command === 'run') return run(values.target)
  if (command === 'env') return printEnv()
  throw new Error(`unknown command ${command}\n${USAGE}`)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // Configuration and start-up failures are for people: a readable message, no stack trace.
  process.stderr.write(`sluice: ${err instanceof ConfigError || err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
