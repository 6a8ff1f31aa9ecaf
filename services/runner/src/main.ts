// `sluice` command line:
//   sluice run --target all | gateway,clickhouse-sink,query-api
//   sluice env            every environment variable, by target
//   sluice templates      mine log lines offline with the enricher's code (templates.ts)
//   sluice keys create    make an API key and add its hash to a keys file (keys.ts)
//   sluice clickhouse ddl print the ClickHouse schema's SQL, for a cluster too (ddl.ts)
// SIGTERM / SIGINT drain: stop accepting, flush batches, commit, disconnect, exit 0.
import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'
import { clickhouseEnv, envNames, parseEnv } from '@sluice/config'
import { envSchema as runtimeEnv } from './config.js'
import { MODULES, TARGETS, loadConfig, parseTargets, startRuntime } from './runtime.js'
import { MESSAGE_FIELDS, runTemplates } from './templates.js'
import { createKey } from './keys.js'
import { renderDdl } from './ddl.js'
import { NODE_FLAGS, missingNodeFlags } from './node-flags.js'

const USAGE = `usage: sluice run [--target all|${TARGETS.join(',')}]
       sluice env
       sluice templates [--summary] [--message-field NAME] [--service NAME] [FILE…]
       sluice keys create --id ID --tenant T[,T…] --scope S[,S…] [--file KEYS.json] [--description TEXT] [--expires-at ISO]
       sluice clickhouse ddl [--cluster NAME] [--database DB] [--ttl-days N]

sluice templates: mines log lines, one per line, from the FILEs (stdin when none, or for "-")
with the enricher's code and configuration (the ENRICHER_* variables); prints one JSON line per
log: {"line","pattern_id","template","level","timestamp","service","parsed_format","fields",
"message","merged"} ("file" first when several inputs are given). An NDJSON line (a JSON
object) gives its message, "service" and "level".
  --summary             print instead a table of the template groups (count, pattern_id,
                        latest template), merged groups counted as one, largest first
  --message-field NAME  NDJSON field holding the message (default: the first present of
                        ${MESSAGE_FIELDS.join(', ')}; none: the whole line)
  --service NAME        service of every line (default: the NDJSON "service", else "unknown")

sluice keys create: makes an API key (printed once, on stdout: keep it) and adds its SHA-256 to
the keys file (SLUICE_API_KEYS_FILE; created when missing); without --file, prints the entry to
add. Tenants: tenant ids, or * for every tenant. Scopes: ingest, query, alerts, admin (all).

sluice clickhouse ddl: prints every statement the migrations run, without connecting; with a
cluster (default CLICKHOUSE_CLUSTER) as cluster mode runs them: ON CLUSTER, Replicated <t>_local
tables, Distributed <t> tables. Defaults: CLICKHOUSE_DATABASE, CLICKHOUSE_TTL_DAYS.`

// Each command's options; anything else is a usage error.
const OPTIONS = {
  run: { options: { target: { type: 'string', default: 'all' } } },
  env: { options: {} },
  templates: { options: { summary: { type: 'boolean' }, 'message-field': { type: 'string' }, service: { type: 'string' } }, allowPositionals: true },
  keys: {
    options: { id: { type: 'string' }, tenant: { type: 'string' }, scope: { type: 'string' }, file: { type: 'string' }, description: { type: 'string' }, 'expires-at': { type: 'string' } },
    allowPositionals: true,
  },
  clickhouse: { options: { cluster: { type: 'string' }, database: { type: 'string' }, 'ttl-days': { type: 'string' } }, allowPositionals: true },
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
  const missing = missingNodeFlags()
  if (missing.length > 0) {
    logger.warn({ missing }, `node runs without ${missing.join(' ')}: more CPU per record goes to garbage collection (start with node ${NODE_FLAGS.join(' ')} dist/sluice.mjs, as npm start and the image do)`)
  }
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

function keys(args: string[]): void {
  const { positionals, values } = parse(args, OPTIONS.keys)
  if (values.help) return void process.stdout.write(`${USAGE}\n`)
  if (positionals[0] !== 'create' || positionals.length > 1) throw new Error(`expected: sluice keys create …\n${USAGE}`)
  const list = (v: string | undefined) => (v ?? '').split(',').map((x) => x.trim()).filter(Boolean)
  if (values.id === undefined || values.tenant === undefined || values.scope === undefined) throw new Error(`sluice keys create needs --id, --tenant and --scope\n${USAGE}`)
  const made = createKey({ id: values.id, tenants: list(values.tenant), scopes: list(values.scope), description: values.description, expiresAt: values['expires-at'], file: values.file })
  process.stdout.write(`${made.key}\n`)
  process.stderr.write(values.file ? `key ${made.entry.id} added to ${values.file}; the key above is shown only once\n` : `add this entry to the keys file:\n${JSON.stringify(made.entry)}\n`)
}

function clickhouse(args: string[]): void {
  const { positionals, values } = parse(args, OPTIONS.clickhouse)
  if (values.help) return void process.stdout.write(`${USAGE}\n`)
  if (positionals[0] !== 'ddl' || positionals.length > 1) throw new Error(`expected: sluice clickhouse ddl …\n${USAGE}`)
  // The options are checked as the variables they stand for are.
  const e = parseEnv(clickhouseEnv, {
    ...process.env,
    ...(values.cluster !== undefined && { CLICKHOUSE_CLUSTER: values.cluster }),
    ...(values.database !== undefined && { CLICKHOUSE_DATABASE: values.database }),
    ...(values['ttl-days'] !== undefined && { CLICKHOUSE_TTL_DAYS: values['ttl-days'] }),
  })
  process.stdout.write(renderDdl({ database: e.CLICKHOUSE_DATABASE, ttlDays: e.CLICKHOUSE_TTL_DAYS, cluster: e.CLICKHOUSE_CLUSTER }))
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv
  const usage = () => void process.stdout.write(`${USAGE}\n`)
  if (command === undefined || command === '--help' || command === '-h') return usage()
  if (!isCommand(command)) throw new Error(`unknown command ${command}\n${USAGE}`)
  if (command === 'templates') return templates(args)
  if (command === 'keys') return keys(args)
  if (command === 'clickhouse') return clickhouse(args)
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
