// The OpenTelemetry Collector the e2e suites run in front of the gateway (test/shippers/otelcol,
// built from the upstream Go modules by test/shippers/build-go.sh: minutes cold, seconds from Go's
// build cache): a child process on a config the test writes, stopped when the test finishes, its
// log printed when the test fails.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { stringify } from 'yaml'
import { onTestFailed, onTestFinished } from 'vitest'
import { goShipper } from './go-shipper.js'
import type { StoredLog } from './logs.js'
import { waitFor } from './sluice.js'

/** The Collector's console log line for a message at level error (zap's console encoding). */
export const ERROR_LINE = /^\S+\terror\t.*$/m
/** What the Collector logs once every pipeline runs. */
const READY = 'Everything is ready'
/** The Collector's own metrics server listens on :8888 by default; parallel Collectors would collide. */
export const TELEMETRY = { metrics: { level: 'none' } }

export interface Collector {
  /** Everything the Collector logged so far (it logs to stderr). */
  stderr: () => string
}

let binary: Promise<string> | undefined
const running = new Set<ChildProcess>()

/** The Collector's binary, built on the first call (call it from a beforeAll with a long timeout). */
export function buildCollector(): Promise<string> {
  binary ??= goShipper('otelcol')
  return binary
}

async function stop(child: ChildProcess): Promise<void> {
  running.delete(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // SIGTERM lets the Collector flush its batch and queue; a Collector stuck on a dead gateway gets SIGKILL.
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

/** Stops every Collector still running (for an afterAll). */
export async function stopCollectors(): Promise<void> {
  await Promise.all([...running].map(stop))
}

/**
 * Runs the Collector on `config` (written as YAML to a temp dir) until the test finishes; resolves
 * once its pipelines run. Its log is printed when the test fails.
 */
export async function startCollector(config: Record<string, unknown>): Promise<Collector> {
  const bin = await buildCollector()
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-otelcol-'))
  const file = path.join(dir, 'config.yaml')
  writeFileSync(file, stringify(config))
  const child = spawn(bin, [`--config=file:${file}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  running.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  onTestFinished(async () => {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  })
  onTestFailed(() => console.error(`sluice-otelcol on\n${stringify(config)}\nlogged:\n${stderr}`))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the Collector was not ready in 30 s: ${stderr.slice(-3000)}`)), 30_000)
    child.stderr!.on('data', () => {
      if (!stderr.includes(READY)) return
      clearTimeout(timer)
      resolve()
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`the Collector exited with ${code ?? signal}: ${stderr.slice(-3000)}`))
    })
  })
  return { stderr: () => stderr }
}

/**
 * The records `read` returns once there are `n` — or, as soon as the Collector logs an error (it
 * gave up on a request, say), that error rather than a wait until the timeout.
 */
export async function delivered(collector: Collector, what: string, read: () => Promise<StoredLog[]>, n: number): Promise<StoredLog[]> {
  const result = await waitFor(what, async () => {
    const failed = ERROR_LINE.exec(collector.stderr())
    if (failed) return new Error(`the Collector logged an error: ${failed[0]}`)
    const logs = await read()
    return logs.length >= n ? logs : undefined
  }).catch((err: unknown) => new Error(`${String(err)}; the Collector logged: ${collector.stderr().slice(-3000)}`))
  if (result instanceof Error) throw result
  return result
}
