// Sluice services under test run in child processes, as in production (`sluice run --target …`),
// so the load generator never shares an event loop or a core's time slice accounting with them.
// A child is ready once it printed `sluice <target> listening on <url>` for every expected target.
// Every child is tracked: stopAll() ends them (SIGTERM, then SIGKILL) at the end and on errors.
// BENCH_CHILD_LOG_DIR keeps each child's whole output (stdout and stderr) in a file of that
// directory, <name>-<pid>.log, for what the last lines kept here do not show (with
// BENCH_CHILD_NODE_ARGS, e.g. a preload that prints event-loop stalls).
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { NODE_FLAGS } from '@sluice/runner'
import { REPO_ROOT } from '../infra/providers.js'

export interface ChildOptions {
  /** Label for messages. */
  name: string
  /** `--target` value, e.g. `gateway` or `all`. */
  targets: string
  /** Targets whose "listening on" line marks readiness. */
  expect: readonly string[]
  /** Merged over this process's environment; `undefined` removes an inherited variable. */
  env: Record<string, string | undefined>
  nodeArgs?: readonly string[]
  /** Another entry point than the sluice command, with its own arguments (e.g. a baseline). */
  script?: readonly string[]
  startTimeoutMs: number
  stopTimeoutMs: number
}

export interface ExitInfo {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface SluiceChild {
  readonly name: string
  readonly pid: number
  /** Target → base URL, from the "listening on" lines. */
  readonly urls: Readonly<Record<string, string>>
  /** Set once the process ended, expectedly or not. */
  readonly exit: ExitInfo | undefined
  /** The last lines the child wrote (stdout and stderr), for error messages. */
  tail(): string
  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves when the process is gone. */
  stop(): Promise<ExitInfo>
}

const live = new Set<SluiceChild>()
const TAIL_LINES = 40
const READY = /^sluice (\S+) listening on (\S+)/

export function startChild(opts: ChildOptions): Promise<SluiceChild> {
  const entry = opts.script ?? ['services/runner/src/main.ts', 'run', '--target', opts.targets]
  // Sluice runs with the flags production runs it with (npm start, the image), and so do the
  // baselines it is compared with (the pass-through consumer), so a ratio compares like with like.
  const args = ['--conditions=source', '--import', 'tsx', ...NODE_FLAGS, ...(opts.nodeArgs ?? []), ...entry]
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const [k, v] of Object.entries(opts.env)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  const proc = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  const urls: Record<string, string> = {}
  let exit: ExitInfo | undefined
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.on('exit', (code, signal) => {
      exit = { code, signal }
      live.delete(child)
      resolve(exit)
    })
  })
  let onLine: (line: string) => void = () => undefined
  const collect = (stream: NodeJS.ReadableStream) => {
    let partial = ''
    stream.setEncoding('utf8')
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n')
      partial = parts.pop() ?? ''
      for (const line of parts) {
        lines.push(line)
        if (lines.length > TAIL_LINES) lines.shift()
        onLine(line)
      }
    })
  }
  collect(proc.stdout)
  collect(proc.stderr)
  const logDir = process.env.BENCH_CHILD_LOG_DIR
  if (logDir) {
    mkdirSync(logDir, { recursive: true })
    const file = createWriteStream(path.join(logDir, `${opts.name.replace(/[^\w.-]+/g, '_')}-${proc.pid ?? 'x'}.log`))
    for (const stream of [proc.stdout, proc.stderr]) stream.on('data', (chunk: string) => file.write(chunk))
    proc.on('close', () => file.end())
  }

  const child: SluiceChild = {
    name: opts.name,
    pid: proc.pid ?? -1,
    urls,
    get exit() {
      return exit
    },
    tail: () => lines.join('\n'),
    async stop() {
      if (exit) return exit
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), opts.stopTimeoutMs)
      try {
        return await exited
      } finally {
        clearTimeout(timer)
      }
    },
  }
  live.add(child)

  return new Promise<SluiceChild>((resolve, reject) => {
    let settled = false
    const fail = (why: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      void child.stop().finally(() => reject(new Error(`${opts.name}: ${why}\n--- last output ---\n${child.tail()}`)))
    }
    const timer = setTimeout(() => fail(`not ready within ${opts.startTimeoutMs} ms`), opts.startTimeoutMs)
    onLine = (line) => {
      const m = READY.exec(line)
      if (!m) return
      urls[m[1]!] = m[2]!
      if (opts.expect.every((t) => urls[t])) {
        settled = true
        clearTimeout(timer)
        onLine = () => undefined
        resolve(child)
      }
    }
    void exited.then((e) => fail(`exited during start-up (code ${e.code}, signal ${e.signal})`))
    proc.on('error', (err) => fail(`could not start: ${err.message}`))
  })
}

/** Ends every child still running; used in `finally` and on SIGINT/SIGTERM of the bench. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()))
}

/** Last resort on a synchronous process exit: no time to wait, so SIGKILL. */
export function killAllNow(): void {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
}
