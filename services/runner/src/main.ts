// `sluice` command line:
//   sluice run --target all | gateway,clickhouse-sink,query-api
//   sluice env            every environment variable, by target
// SIGTERM / SIGINT drain: stop accepting, flush batches, commit, disconnect, exit 0.
import { parseArgs } from 'node:util'
import { envNames } from '@sluice/config'
import { envSchema as runtimeEnv } from './config.js'
import { MODULES, TARGETS, loadConfig, parseTargets, startRuntime } from './runtime.js'

const USAGE = `usage: sluice run [--target all|${TARGETS.join(',')}]
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
  process.stdout.write(`process: ${envNames(runtimeEnv).join(' ')}\n`)
  for (const m of MODULES) process.stdout.write(`${m.name}: ${envNames(m.envSchema).join(' ')}\n`)
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
  process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
