// Test shippers written in Go (test/shippers/<name>: go-gelf's and fluent-logger-golang's senders),
// built by build-go.sh into .cache/bin on first use and rebuilt only when a source is newer.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from './providers.js'

const run = promisify(execFile)

/** The path of shipper `name`'s binary, built if need be; rejects with the build's stderr. */
export async function goShipper(name: string): Promise<string> {
  const { stdout } = await run('bash', [path.join(REPO_ROOT, 'test/shippers/build-go.sh'), name], { maxBuffer: 16 << 20 }).catch((err: unknown) => {
    const e = err as { stderr?: string }
    throw new Error(`building sluice-${name} failed: ${e.stderr?.slice(-4000) ?? String(err)}`)
  })
  return stdout.trim().split('\n').at(-1)!
}
