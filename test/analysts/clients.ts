// The analyst clients the tests drive, as analysts install them: clickhouse-connect with pandas
// (Python, from PyPI) and the ClickHouse JDBC driver (from Maven Central). The setup scripts
// install them into .cache/ on first use and reuse them after; each runs once per test process.
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from '../infra/providers.js'
import { pythonVenv } from '../infra/python.js'

const run = promisify(execFile)
const HERE = path.join(REPO_ROOT, 'test/analysts')
/** A fresh install downloads pandas, numpy and the driver: minutes on a slow network. */
const SETUP_TIMEOUT_MS = 10 * 60_000

async function setup(script: string): Promise<string> {
  const { stdout } = await run('bash', [path.join(HERE, script)], { cwd: REPO_ROOT, timeout: SETUP_TIMEOUT_MS, maxBuffer: 16 << 20 })
  return stdout.trim().split('\n').at(-1)!
}

let jdbc: Promise<string> | undefined
/** The venv's python with clickhouse-connect and pandas. */
export const setupPython = () => pythonVenv('analysts', 'test/analysts/requirements.txt')
/** The classpath of the JDBC driver and the compiled probe. */
export const setupJdbc = () => (jdbc ??= setup('setup-jdbc.sh'))

/** One JSON object per line, as both probes print. */
export type ProbeLine = Record<string, unknown> & { ok: boolean }
const lines = (stdout: string): ProbeLine[] => stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as ProbeLine)

export interface ConnectPlan {
  host: string
  port: number
  username?: string
  password?: string
  database?: string
  steps: Array<{ op: 'query_df' | 'query' | 'command'; sql: string; limit?: number } | { op: 'poll'; sql: string; at_least: number; timeout_s: number }>
}

/** Runs connect_probe.py: the connect step's line, then one line per step, each also handed to `onLine` as it comes. */
export async function clickhouseConnect(plan: ConnectPlan, opts: { timeoutMs?: number; onLine?: (line: ProbeLine) => void } = {}): Promise<ProbeLine[]> {
  const child = spawn(await setupPython(), [path.join(HERE, 'connect_probe.py'), JSON.stringify(plan)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 120_000 })
  const out: ProbeLine[] = []
  let partial = ''
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  child.stdout.on('data', (d: Buffer) => {
    const text = partial + d.toString()
    const complete = text.split('\n')
    partial = complete.pop()!
    for (const line of lines(complete.join('\n'))) {
      out.push(line)
      opts.onLine?.(line)
    }
  })
  const [code] = (await once(child, 'close')) as [number | null]
  if (code !== 0) throw new Error(`connect_probe.py exited with ${code}: ${stderr.slice(-2000)}`)
  return out
}

/** Runs JdbcProbe: the connect step's line, then one line per step (SQL, or meta:tables / meta:product). */
export async function jdbcDriver(url: string, user: string, password: string, steps: string[], timeoutMs = 120_000): Promise<ProbeLine[]> {
  const { stdout } = await run('java', ['-cp', await setupJdbc(), 'JdbcProbe', url, user, password, ...steps], { timeout: timeoutMs, maxBuffer: 16 << 20 })
  return lines(stdout)
}
