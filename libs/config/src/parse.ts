// Config is parsed once at boot from the environment: every bad value is reported together, in
// env-var terms, and the result is frozen.
import { readFileSync } from 'node:fs'
import type { z } from 'zod'

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID' as const
  readonly issues: readonly string[]

  constructor(issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`)
    this.name = 'ConfigError'
    this.issues = issues
  }
}

export type Env = Record<string, string | undefined>

export function parseEnv<S extends z.ZodObject>(schema: S, env: Env = process.env): Readonly<z.infer<S>> {
  // Empty strings count as unset, as in docker-compose files with `FOO=`.
  const cleaned: Env = {}
  for (const key of Object.keys(schema.shape)) {
    const v = env[key]
    if (v !== undefined && v !== '') cleaned[key] = v
  }
  const result = schema.safeParse(cleaned)
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`))
  }
  return Object.freeze(result.data)
}

/** Names of every env var a schema reads (for docs, compose checks and `--help`). */
export function envNames(schema: z.ZodObject): string[] {
  return Object.keys(schema.shape)
}

/**
 * Reads a file an env var names (rules files and the like) and parses its text; any failure —
 * missing file, bad JSON, invalid content — is reported as `<ENV_NAME> <file>: <reason>`.
 */
export function readConfigFile<T>(envName: string, file: string, parse: (text: string) => T): T {
  try {
    return parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`${envName} ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}
