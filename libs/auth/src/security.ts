// The process's security settings (SLUICE_* variables), parsed once at boot, and what the runtime
// builds from them for every service: the tenant rule (Auth), per-tenant settings, and an audit log
// per service. The keys file is read again when it changes, so keys can be added, disabled or
// rotated without a restart (a file that no longer parses keeps the previous keys, and says so).
import { readFileSync, statSync } from 'node:fs'
import type { Logger } from 'pino'
import { z } from 'zod'
import { bool, positiveInt, readConfigFile } from '@sluice/config'
import { errorMessage } from '@sluice/core'
import { AuditLog } from './audit.js'
import type { AuditWriter } from './audit.js'
import { Auth } from './auth.js'
import { DEFAULT_HTTP_SETTINGS, httpEnv, httpSettingsFrom } from './hardening.js'
import type { HttpEnv, HttpSettings } from './hardening.js'
import { KeyRing, parseKeysFile } from './keys.js'
import type { KeysFile } from './keys.js'
import { TenantSettingsTable, parseTenantsFile } from './tenants.js'
import type { TenantsFile } from './tenants.js'

export const securityEnv = z.object({
  /** Require an API key on every API route (ops routes stay open). Off in the local zero-config start. */
  SLUICE_AUTH: bool(false),
  /** The keys file: {"keys":[{"id","sha256","tenants","scopes"}]}; re-read when it changes. */
  SLUICE_API_KEYS_FILE: z.string().optional(),
  /** The same JSON inline (instead of a file). */
  SLUICE_API_KEYS: z.string().optional(),
  /** How often the keys file is checked for changes. */
  SLUICE_API_KEYS_RELOAD_MS: positiveInt(5000),
  /** Per-tenant limits and retention: {"defaults":{…},"tenants":{"<tenant>":{…}}}. */
  SLUICE_TENANTS_FILE: z.string().optional(),
  ...httpEnv.shape,
})

/** The parsed variables; the SLUICE_HTTP_* ones may be left out (their defaults apply). */
type SecurityEnv = Omit<z.infer<typeof securityEnv>, keyof HttpEnv> & Partial<HttpEnv>

export interface SecurityConfig {
  authEnabled: boolean
  keys: KeysFile
  keysFile: string | undefined
  keysReloadMs: number
  tenants: TenantsFile | undefined
  /** Timeouts, size and connection limits, CORS of every HTTP server; absent: DEFAULT_HTTP_SETTINGS. */
  http?: HttpSettings
}

/** Reads the keys and tenants files; throws naming the variable and what is wrong. */
export function loadSecurityConfig(e: SecurityEnv): SecurityConfig {
  if (e.SLUICE_API_KEYS_FILE !== undefined && e.SLUICE_API_KEYS !== undefined) throw new Error('SLUICE_API_KEYS_FILE and SLUICE_API_KEYS: set one, not both')
  let keys: KeysFile = { keys: [] }
  if (e.SLUICE_API_KEYS_FILE !== undefined) keys = readConfigFile('SLUICE_API_KEYS_FILE', e.SLUICE_API_KEYS_FILE, parseKeysFile)
  else if (e.SLUICE_API_KEYS !== undefined) {
    try {
      keys = parseKeysFile(e.SLUICE_API_KEYS)
    } catch (err) {
      throw new Error(`SLUICE_API_KEYS: ${errorMessage(err)}`, { cause: err })
    }
  }
  if (e.SLUICE_AUTH && keys.keys.length === 0) throw new Error('SLUICE_AUTH=true needs API keys: set SLUICE_API_KEYS_FILE (or SLUICE_API_KEYS)')
  return Object.freeze({
    authEnabled: e.SLUICE_AUTH,
    keys,
    keysFile: e.SLUICE_API_KEYS_FILE,
    keysReloadMs: e.SLUICE_API_KEYS_RELOAD_MS,
    tenants: e.SLUICE_TENANTS_FILE === undefined ? undefined : readConfigFile('SLUICE_TENANTS_FILE', e.SLUICE_TENANTS_FILE, parseTenantsFile),
    http: httpSettingsFrom(e),
  })
}

/** What every service of a process gets: the tenant rule, tenants' settings and its audit log. */
export interface Security {
  auth: Auth
  tenants: TenantSettingsTable
  audit: AuditLog
  /** The HTTP hardening createHttpApp applies; absent: DEFAULT_HTTP_SETTINGS. */
  http?: HttpSettings
}

export interface ProcessSecurity {
  auth: Auth
  tenants: TenantSettingsTable
  /** The audit log of one service (its rows carry the service's name). */
  forService(service: string): Security
  close(): Promise<void>
}

export interface ProcessSecurityOptions {
  log: Logger
  /** Retention of tenants without one of their own (CLICKHOUSE_TTL_DAYS). */
  retentionDays: number
  /** Where audit rows go besides the log; undefined: the log only. */
  auditWriter?: AuditWriter | undefined
  clock?: () => number
}

export function createProcessSecurity(config: SecurityConfig, opts: ProcessSecurityOptions): ProcessSecurity {
  const log = opts.log.child({ component: 'auth' })
  let ring = new KeyRing(config.keys)
  let timer: NodeJS.Timeout | undefined
  if (config.keysFile !== undefined) {
    const file = config.keysFile
    let seen = mtime(file)
    timer = setInterval(() => {
      const now = mtime(file)
      if (now === seen) return
      seen = now
      try {
        ring = new KeyRing(parseKeysFile(readFileSync(file, 'utf8')))
        log.info({ keys: ring.size }, 'API keys reloaded')
      } catch (err) {
        log.error({ err: errorMessage(err), file }, 'API keys file changed but does not parse: the previous keys stay in use')
      }
    }, config.keysReloadMs).unref()
  }
  const auth = new Auth({ enabled: config.authEnabled, keys: () => ring, ...(opts.clock && { clock: opts.clock }) })
  const tenants = new TenantSettingsTable(config.tenants, { retentionDays: opts.retentionDays })
  const audits: AuditLog[] = []
  return {
    auth,
    tenants,
    forService(service) {
      const audit = new AuditLog({ service, log: opts.log.child({ service, component: 'audit' }), writer: opts.auditWriter, ...(opts.clock && { clock: opts.clock }) })
      audits.push(audit)
      return { auth, tenants, audit, http: config.http ?? DEFAULT_HTTP_SETTINGS }
    },
    async close() {
      clearInterval(timer)
      await Promise.all(audits.map((a) => a.close()))
    },
  }
}

/** Security with authentication off and no limits: services created without a runtime (tests). */
export function openSecurity(log: Logger, service: string, retentionDays = 30): Security {
  return createProcessSecurity({ authEnabled: false, keys: { keys: [] }, keysFile: undefined, keysReloadMs: 5000, tenants: undefined }, { log, retentionDays }).forService(service)
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs
  } catch {
    return -1
  }
}
