// Python clients and servers the tests run (clickhouse-connect, aiosmtpd), each in a virtualenv of
// its own under .cache/, made by python-venv.sh on first use and reused after.
import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from './providers.js'

const run = promisify(execFile)
/** A fresh install may download pandas and numpy: minutes on a slow network. */
const SETUP_TIMEOUT_MS = 10 * 60_000
const venvs = new Map<string, Promise<string>>()

/** The python of venv `name` with `requirements` (a path from the repository root) installed; once per test process. */
export function pythonVenv(name: string, requirements: string): Promise<string> {
  let python = venvs.get(name)
  if (python === undefined) {
    python = run('bash', [path.join(REPO_ROOT, 'test/infra/python-venv.sh'), name, path.join(REPO_ROOT, requirements)], { cwd: REPO_ROOT, timeout: SETUP_TIMEOUT_MS, maxBuffer: 16 << 20 }).then(
      ({ stdout }) => stdout.trim().split('\n').at(-1)!,
    )
    venvs.set(name, python)
  }
  return python
}
