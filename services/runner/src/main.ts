// `sluice` command line:
//   sluice run --target all | gateway,clickhouse-sink,query-api
//   sluice env            every environment variable, by target
//   sluice templates      mine log lines offline with the enricher's code (templates.ts)
// SIGTERM / SIGINT drain: stop accepting, flush batches, commit, disconnect, exit 0.
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { envNames } from '@sluice/config'
import { envSchema as runtimeEnv } from './config.js'
import { MODULES, TARGETS, loadConfig, parseTargets, startRuntime } from './runtime.js'
import { MESSAGE_FIELDS, runTemplates } from './templates.js'

const USAGE = `usage: sluice run [--target all|${TARGETS.join(',')}]
       sluice env
       sluice templates [--summary] [--message-field NAME] [--service NAME] [FILE…]

sluice templates: mines log lines, one per line, from the FILEs (stdin when none, or for "-")
with the enricher's code and configuration (the ENRICHER_* variables); prints one JSON line per
log: {"line","pattern_id","template","level","timestamp","service","parsed_format","fields",
"message","merged"} ("file" first when several inputs are given). An NDJSON line (a JSON
object) gives its message, "service" and "level".
  --summary             print instead a table of the template groups (count, pattern_id,
                        latest template), merged groups counted as one, largest first
  --message-field NAME  NDJSON field holding the message (default: the first present of
                        ${MESSAGE_FIELDS.join(', ')}; none: the whole line)
  --service NAME        service of every line (default: the NDJSON "service", else "unknown")`

// Each command's options; anything else is a usage error.
const OPTIONS = {
  run: { options: { target: { type: 'string', default: 'all' } } },
  env: { options: {} },
  templates: { options: { summary: { type: 'boolean' }, 'message-field': { type: 'string' }, service: { type: 'string' } }, allowPositionals: true },
} as const satisfies Record<string, ParseArgsConfig>
type Command = keyof typeof OPTIONS
const isCommand = (name: string): name is Command => Object.hasOwn(OPTIONS, name)

function parse<C extends ParseArgsConfig>(args: string[], config: C) {
  try {
    return parseArgs({ ...config, args, options: { ...config.options, help: { type: 'boolean' } } })
  } catch (err) {
    // node:util's own message ("Unknown option '--x'…"), then what is accepted.
    const code = (err as NodeJS.ErrnoException).code
    if (code?.startsWith('ERR_PARSE_ARGS')) throw new Error(`${(err as Error).message}\n${USAGE}`, { cause: err })
    throw err
  }
}

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

async function templates(args: string[]): Promise<void> {
  const { positionals, values } = parse(args, OPTIONS.templates)
  if (values.help) return void process.stdout.write(`${USAGE}\n`)
  // `sluice templates big.log | head`: a closed pipe ends the command, quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0)
    process.stderr.write(`sluice: cannot write: ${err.message}\n`)
    process.exit(1)
  })
  await runTemplates({
    files: positionals,
    stdin: process.stdin,
    out: process.stdout,
    summary: values.summary ?? false,
    messageField: values['message-field'],
    service: values.service,
  })
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv
  const usage = () => void process.stdout.write(`${USAGE}\n`)
  if (command === undefined || command === '--help' || command === '-h') return usage()
  if (!isCommand(command)) throw new Error(`unknown command ${command}\n${USAGE}`)
  if (command === 'templates') return templates(args)
  if (command === 'run') {
    const { values } = parse(args, OPTIONS.run)
    return values.help ? usage() : run(values.target)
  }
  return parse(args, OPTIONS.env).values.help ? usage() : printEnv()
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // Configuration and start-up failures are for people: a readable message, no stack trace.
  process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
