// Loads the Avro schemas shipped in the repository's schemas/ folder.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const here = path.dirname(fileURLToPath(import.meta.url))

/** The schemas folder: SLUICE_SCHEMAS_DIR, else found by walking up from this module. */
export function schemasDir(): string {
  if (process.env.SLUICE_SCHEMAS_DIR) return process.env.SLUICE_SCHEMAS_DIR
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'schemas')
    try {
      readFileSync(path.join(candidate, 'log-event.avsc'))
      return candidate
    } catch {
      if (path.dirname(dir) === dir) throw new Error('schemas/ folder not found: set SLUICE_SCHEMAS_DIR')
    }
  }
}

export function loadAvsc(name: string): object {
  return JSON.parse(readFileSync(path.join(schemasDir(), name), 'utf8')) as object
}
