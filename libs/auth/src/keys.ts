// API keys: who may call Sluice, as which tenants, for what.
//
// The keys file (SLUICE_API_KEYS_FILE, or the same JSON inline in SLUICE_API_KEYS):
//   {"keys":[{"id":"ci","sha256":"<hex SHA-256 of the key>","tenants":["acme"],"scopes":["ingest","query"]}]}
// Only hashes are stored: a leaked file grants nothing. `tenants: ["*"]` is every tenant (operators);
// several tenants let a key choose among them per request (X-Scope-OrgID). Scope `admin` includes
// the others. Optional per key: `disabled`, `expires_at` (ISO 8601), `description`.
//
// A presented key is hashed and looked up by its digest, then the digest is compared with the
// stored one in constant time: the lookup sees only a SHA-256 digest, never the key, so its timing
// tells an attacker nothing about a valid key.
import { createHash, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'
import { TENANT_PATTERN } from '@sluice/core'

export const SCOPES = ['ingest', 'query', 'alerts', 'admin'] as const
export type Scope = (typeof SCOPES)[number]

const keySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.:@-]{1,64}$/, 'expected 1-64 characters of A-Z a-z 0-9 _ . : @ -'),
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected the hex SHA-256 of the key (64 hex digits)'),
  tenants: z.array(z.union([z.literal('*'), z.string().regex(TENANT_PATTERN, 'expected 1-64 characters of A-Z a-z 0-9 _ . -')])).min(1),
  scopes: z.array(z.enum(SCOPES)).min(1),
  description: z.string().max(500).optional(),
  disabled: z.boolean().optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
})

export const keysFileSchema = z.strictObject({ keys: z.array(keySchema) }).superRefine((f, ctx) => {
  const ids = new Set<string>()
  const hashes = new Set<string>()
  f.keys.forEach((k, i) => {
    if (ids.has(k.id)) ctx.addIssue({ code: 'custom', path: ['keys', i, 'id'], message: `duplicate key id ${k.id}` })
    if (hashes.has(k.sha256.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['keys', i, 'sha256'], message: `key ${k.id} has the same hash as another key` })
    ids.add(k.id)
    hashes.add(k.sha256.toLowerCase())
  })
})

export type KeysFile = z.infer<typeof keysFileSchema>
export type KeySpec = KeysFile['keys'][number]

/** Who a request is: the key's id (never the key), its tenants and scopes. */
export interface Principal {
  readonly keyId: string
  /** `'*'`: every tenant. */
  readonly tenants: readonly string[] | '*'
  readonly scopes: ReadonlySet<Scope>
}

/** Parses the keys file's text; throws naming the first issues. */
export function parseKeysFile(text: string): KeysFile {
  const r = keysFileSchema.safeParse(JSON.parse(text))
  if (!r.success) throw new Error(r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '))
  return r.data
}

/** The hex SHA-256 of a key, as the keys file stores it. */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex')
}

interface Entry {
  digest: Buffer
  principal: Principal
  disabled: boolean
  expiresAtMs: number
}

export type KeyCheck = { ok: true; principal: Principal } | { ok: false; reason: 'unknown key' | 'key disabled' | 'key expired' }

export class KeyRing {
  #byDigest = new Map<string, Entry>()

  constructor(file: KeysFile) {
    for (const k of file.keys) {
      const digest = Buffer.from(k.sha256.toLowerCase(), 'hex')
      const tenants = k.tenants.includes('*') ? ('*' as const) : Object.freeze([...k.tenants])
      const scopes = new Set<Scope>(k.scopes.includes('admin') ? SCOPES : k.scopes)
      this.#byDigest.set(digest.toString('hex'), {
        digest,
        principal: Object.freeze({ keyId: k.id, tenants, scopes }),
        disabled: k.disabled === true,
        expiresAtMs: k.expires_at ? Date.parse(k.expires_at) : Infinity,
      })
    }
  }

  get size(): number {
    return this.#byDigest.size
  }

  check(key: string, nowMs = Date.now()): KeyCheck {
    const digest = createHash('sha256').update(key, 'utf8').digest()
    const e = this.#byDigest.get(digest.toString('hex'))
    if (e === undefined || !timingSafeEqual(e.digest, digest)) return { ok: false, reason: 'unknown key' }
    if (e.disabled) return { ok: false, reason: 'key disabled' }
    if (e.expiresAtMs <= nowMs) return { ok: false, reason: 'key expired' }
    return { ok: true, principal: e.principal }
  }
}
