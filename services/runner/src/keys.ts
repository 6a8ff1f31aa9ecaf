// `sluice keys create`: makes an API key, prints it once, and adds its hash to a keys file.
// The key is 32 random bytes (base64url) behind a `slk_` prefix, so secret scanners and people
// recognise it; only its SHA-256 is stored. The file is rewritten atomically (temp file + rename,
// mode 0600); a running Sluice picks the change up within SLUICE_API_KEYS_RELOAD_MS.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { SCOPES, hashKey, keysFileSchema, parseKeysFile } from '@sluice/auth'
import type { KeysFile, Scope } from '@sluice/auth'

export interface CreateKeyOptions {
  id: string
  tenants: string[]
  scopes: string[]
  description?: string | undefined
  expiresAt?: string | undefined
  /** The keys file to add the key to; without it only the entry is printed. */
  file?: string | undefined
}

export interface CreatedKey {
  key: string
  entry: KeysFile['keys'][number]
}

export function createKey(opts: CreateKeyOptions): CreatedKey {
  const key = `slk_${randomBytes(32).toString('base64url')}`
  const entry = {
    id: opts.id,
    sha256: hashKey(key),
    tenants: opts.tenants,
    scopes: opts.scopes as Scope[],
    ...(opts.description !== undefined && { description: opts.description }),
    ...(opts.expiresAt !== undefined && { expires_at: opts.expiresAt }),
  }
  const current: KeysFile = opts.file !== undefined && existsSync(opts.file) ? parseKeysFile(readFileSync(opts.file, 'utf8')) : { keys: [] }
  // The whole file is validated with the new entry: a bad scope, tenant or a duplicate id is named.
  const checked = keysFileSchema.safeParse({ keys: [...current.keys, entry] })
  if (!checked.success) {
    const issues = checked.error.issues.map((i) => `${i.path.slice(2).join('.') || i.path.join('.')}: ${i.message}`)
    throw new Error(`cannot create key ${opts.id}: ${issues.join('; ')} (scopes: ${SCOPES.join(', ')})`)
  }
  if (opts.file !== undefined) {
    const tmp = `${opts.file}.${process.pid}.tmp`
    writeFileSync(tmp, `${JSON.stringify(checked.data, null, 2)}\n`, { mode: 0o600 })
    renameSync(tmp, opts.file)
  }
  return { key, entry: checked.data.keys.at(-1)! }
}
