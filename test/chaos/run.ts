// `npm run chaos`: the whole fault suite. A three-broker cluster (ports 19092-19097, registry 18081,
// state in .local/chaos), two instances of every target, steady load through the gateways, and
// every fault in turn; prints the table the README shows and writes .local/chaos/results.json.
// Exits 1 when any acknowledged record was lost.
//   CHAOS_FAULTS          comma-separated faults (default: all, in the order of suite.ts)
//   CHAOS_RECORDS_PER_S   load through the gateways (default 1000)
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { REPO_ROOT } from '../infra/providers.js'
import { FAULTS, resultTable, runSuite } from './suite.js'

const dir = path.join(REPO_ROOT, '.local/chaos')
const faults = process.env.CHAOS_FAULTS?.split(',').filter(Boolean) ?? Object.keys(FAULTS)
const started = Date.now()
const results = await runSuite({
  faults,
  recordsPerSecond: Number(process.env.CHAOS_RECORDS_PER_S ?? 1000),
  settleMs: 10_000,
  recoverMs: 20_000,
  dir,
  kafkaPort: 19092,
  registryPort: 18081,
  log: (line) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(0)}s] ${line}`),
})
writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 2))
console.log(`\n${resultTable(results)}\n`)
const lost = results.reduce((a, r) => a + r.lost, 0)
console.log(lost === 0 ? 'no acknowledged record lost' : `${lost} acknowledged records LOST`)
process.exit(lost === 0 ? 0 : 1)
