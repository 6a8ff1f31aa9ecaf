// Who is asking, and as which tenant. One rule for every door:
//   - SLUICE_AUTH off (the local zero-config start): no key is asked for; the tenant is what the
//     request names (header, parameter or field), else the service's default — as before keys.
//   - SLUICE_AUTH on: a key is required (401 with WWW-Authenticate otherwise), its scopes must cover
//     the route (403), and the tenant comes from the key. A request naming another tenant is
//     refused (403); a key of several tenants chooses among them by naming one, else gets its first.
//
// Credentials, in the forms shippers can send:
//   Authorization: Bearer <key>             (OTel exporters, Grafana, curl)
//   Authorization: Basic base64(user:key)   (Promtail, Fluent Bit, Vector, Filebeat, rsyslog's omhttp:
//                                            the password is the key; an empty password makes the
//                                            user name the key)
//   Authorization: ApiKey base64(id:key)    (Elasticsearch clients and Beats' `api_key: id:key`)
//   Authorization: Splunk <key>             (Splunk HEC clients: the key is the HEC token)
//   X-API-Key: <key>, DD-API-KEY: <key>     (the latter Datadog's: the Agent, Vector, its API clients)
import { SluiceError } from '@sluice/core'
import type { KeyRing, Principal, Scope } from './keys.js'

/** The answer to a request without valid credentials, in the `WWW-Authenticate` header. */
export const WWW_AUTHENTICATE = ['Bearer realm="sluice"', 'Basic realm="sluice", charset="UTF-8"'] as const

type Headers = Record<string, string | string[] | undefined>

const first = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)

/** The key a request presents, or undefined when it presents none; throws UNAUTHORIZED when malformed. */
export function presentedKey(headers: Headers): string | undefined {
  const apiKey = first(headers['x-api-key']) ?? first(headers['dd-api-key'])
  if (apiKey !== undefined && apiKey !== '') return apiKey
  const authorization = first(headers.authorization)
  if (authorization === undefined || authorization === '') return undefined
  const space = authorization.indexOf(' ')
  const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase()
  const value = space < 0 ? '' : authorization.slice(space + 1).trim()
  if (value === '') throw unauthorized(`Authorization ${scheme}: no credentials`)
  if (scheme === 'bearer' || scheme === 'splunk') return value
  if (scheme === 'basic' || scheme === 'apikey') {
    const decoded = Buffer.from(value, 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    if (colon < 0) {
      if (scheme === 'apikey') return value
      throw unauthorized('Authorization Basic: expected base64 of user:password')
    }
    const user = decoded.slice(0, colon)
    const secret = decoded.slice(colon + 1)
    return secret !== '' ? secret : user
  }
  throw unauthorized(`Authorization scheme ${scheme} is not accepted: use Bearer, Basic, ApiKey, Splunk or X-API-Key`)
}

function unauthorized(message: string): SluiceError {
  return new SluiceError('UNAUTHORIZED', message)
}

export interface AuthOptions {
  enabled: boolean
  /** The current keys (the keys file may be reloaded while the service runs). */
  keys: () => KeyRing
  clock?: () => number
}

/** The tenant rule of every door; `principal` is null when authentication is off. */
export class Auth {
  readonly enabled: boolean
  #keys: () => KeyRing
  #clock: () => number

  constructor(opts: AuthOptions) {
    this.enabled = opts.enabled
    this.#keys = opts.keys
    this.#clock = opts.clock ?? Date.now
  }

  /**
   * The principal of a request's credentials for `scope`; null when authentication is off.
   * Throws UNAUTHORIZED (no, malformed or unknown key) or FORBIDDEN (scope not granted).
   */
  authenticate(headers: Headers, scope: Scope): Principal | null {
    if (!this.enabled) return null
    const key = presentedKey(headers)
    if (key === undefined) throw unauthorized('an API key is required: Authorization: Bearer <key>, Basic auth with the key as password, or X-API-Key')
    const checked = this.#keys().check(key, this.#clock())
    if (!checked.ok) throw unauthorized(checked.reason === 'unknown key' ? 'invalid API key' : `API key refused: ${checked.reason}`)
    if (!checked.principal.scopes.has(scope)) {
      throw new SluiceError('FORBIDDEN', `API key ${checked.principal.keyId} lacks the ${scope} scope (it has: ${[...checked.principal.scopes].join(', ')})`)
    }
    return checked.principal
  }

  /**
   * The tenant a request acts as. `requested` is the tenant it names (undefined: none); `fallback`
   * the service's default when neither the request nor the key decides (may be undefined, e.g.
   * "every tenant" for an unauthenticated query). Throws FORBIDDEN when the key may not act as it.
   */
  tenant<F extends string | undefined>(principal: Principal | null, requested: string | undefined, fallback: F): string | F {
    if (principal === null) return requested ?? fallback
    if (requested !== undefined) {
      if (mayActAs(principal, requested)) return requested
      throw new SluiceError('FORBIDDEN', `API key ${principal.keyId} may not act as tenant ${requested}`)
    }
    return principal.tenants === '*' ? fallback : (principal.tenants[0] as string)
  }
}

export function mayActAs(principal: Principal | null, tenant: string): boolean {
  return principal === null || principal.tenants === '*' || principal.tenants.includes(tenant)
}
