// `npm run fuzz`: the long schema-driven fuzz run. Starts Sluice with every target (infrastructure
// from the same provider chain as the integration tests), twice — with API keys required (a key
// for every tenant and scope sent with each request) and with authentication off — and runs
// Schemathesis against every HTTP service of each. Prints a table of operations × requests × 5xx
// and writes the figures to .local/fuzz/summary.json; exits 1 when any answer was a 5xx or leaked
// internals.
//   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 50)
//   FUZZ_SEED          the generator's seed (default 15)
//   FUZZ_CHECKS        checks counted besides not_a_server_error (default response_schema_conformance;
//                      "none" for none) — reported, not failing the run
//   FUZZ_SERVICES      comma-separated services to fuzz (default: all)
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { hashKey } from '@sluice/auth'
import { createLogger } from '@sluice/observability'
import { TARGETS, startRuntime } from '@sluice/runner'
import { REPO_ROOT, provideInfra } from '../infra/providers.js'
import { isolationOn } from '../infra/sluice.js'
import { figuresTable, fuzzService } from './schemathesis.js'
import type { FuzzFigures } from './schemathesis.js'

const KEY = 'fuzz-operator-key'
const FUZZ_KEYS = JSON.stringify({ keys: [{ id: 'fuzz', sha256: hashKey(KEY), tenants: ['*'], scopes: ['admin'] }] })

const maxExamples = Number(process.env.FUZZ_MAX_EXAMPLES ?? 50)
const seed = Number(process.env.FUZZ_SEED ?? 15)
const extraChecks = (process.env.FUZZ_CHECKS ?? 'response_schema_conformance').split(',').filter((c) => c !== '' && c !== 'none')
const only = process.env.FUZZ_SERVICES?.split(',').filter(Boolean)
const outDir = path.join(REPO_ROOT, '.local/fuzz')

const RUNS: Array<{ run: string; env: Record<string, string>; headers: Record<string, string> }> = [
  { run: 'auth on', env: { SLUICE_AUTH: 'true', SLUICE_API_KEYS: FUZZ_KEYS, WS_AUTH_SECRET: 'fuzz-stream-token-secret-0123456789' }, headers: { authorization: `Bearer ${KEY}` } },
  { run: 'auth off', env: { SLUICE_AUTH: 'false' }, headers: {} },
]

const started = Date.now()
const handle = await provideInfra()
const rows: Array<{ run: string; service: string; figures: FuzzFigures }> = []
try {
  for (const r of RUNS) {
    const iso = isolationOn(handle.infra, { ...r.env, LOG_LEVEL: 'error' })
    const rt = await startRuntime({ targets: [...TARGETS], env: iso.env, logger: createLogger({ level: 'error' }) })
    try {
      for (const [service, baseUrl] of Object.entries(rt.addresses)) {
        if (only && !only.includes(service)) continue
        process.stdout.write(`[fuzz] ${r.run}: ${service} (${baseUrl}) …\n`)
        const figures = await fuzzService({ baseUrl, reportDir: path.join(outDir, r.run.replace(' ', '-'), service), maxExamples, seed, headers: r.headers, extraChecks })
        process.stdout.write(`[fuzz] ${r.run}: ${service}: ${figures.requests} requests, ${figures.operations.length} operations, ${figures.serverErrors} 5xx, ${figures.leaks} leaks\n`)
        for (const op of figures.operations) for (const s of op.samples) process.stdout.write(`  ${op.operation}: ${s.status} ← ${s.method} ${s.uri} [${s.contentType ?? ''}] ${s.requestBody.slice(0, 200)} → ${s.responseBody.slice(0, 200)}\n`)
        rows.push({ run: r.run, service, figures })
      }
    } finally {
      await rt.close()
      rmSync(iso.dataDir, { recursive: true, force: true })
    }
  }
} finally {
  await handle.stop()
}

const table = figuresTable(rows, extraChecks)
process.stdout.write(`\n${table}\n`)
const total = (k: 'requests' | 'serverErrors' | 'leaks') => rows.reduce((n, r) => n + r.figures[k], 0)
const summary = {
  at: new Date().toISOString(),
  seconds: Math.round((Date.now() - started) / 1000),
  maxExamples,
  seed,
  runs: rows.map((r) => ({ run: r.run, service: r.service, requests: r.figures.requests, serverErrors: r.figures.serverErrors, leaks: r.figures.leaks, operations: r.figures.operations.map(({ samples: _s, ...o }) => o) })),
  operations: rows.reduce((n, r) => n + r.figures.operations.length, 0),
  requests: total('requests'),
  serverErrors: total('serverErrors'),
  leaks: total('leaks'),
}
mkdirSync(outDir, { recursive: true })
writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(summary, null, 2))
writeFileSync(path.join(outDir, 'table.txt'), `${table}\n`)
process.stdout.write(`\n${summary.requests} requests over ${summary.operations} operations in ${summary.seconds} s: ${summary.serverErrors} 5xx, ${summary.leaks} leaks (figures: .local/fuzz/summary.json)\n`)
process.exit(summary.serverErrors + summary.leaks > 0 ? 1 : 0)
