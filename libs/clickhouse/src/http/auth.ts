// Who may query: one configured user. Credentials come as ClickHouse takes them — the
// X-ClickHouse-User/X-ClickHouse-Key headers, else HTTP basic auth, else the user/password URL
// parameters; a request naming no user is `default`'s. Without a password the user is reachable
// from this host only (as ClickHouse's own images treat a passwordless default user): Sluice binds
// every interface (HOST), and SQL over the logs must not be open to the network by default.
// Beside it, the service user (Sluice's own processes, with write access) exists only with a
// password, and is recognised before anything else is checked.
import { createHash, timingSafeEqual } from 'node:crypto'
import { refusal } from './errors.js'

export interface Credentials {
  user: string
  password: string
}

/** The credentials a request carries, by ClickHouse's precedence. */
export function requestCredentials(headers: Readonly<Record<string, string | string[] | undefined>>, params: ReadonlyMap<string, string>): Credentials {
  const get = (name: string) => {
    const v = headers[name]
    return Array.isArray(v) ? v[0] : v
  }
  let user = get('x-clickhouse-user')
  let password = get('x-clickhouse-key')
  const authorization = get('authorization')
  if (user === undefined && password === undefined && authorization?.toLowerCase().startsWith('basic ')) {
    const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    user = colon < 0 ? decoded : decoded.slice(0, colon)
    password = colon < 0 ? '' : decoded.slice(colon + 1)
  }
  user ??= params.get('user')
  password ??= params.get('password')
  return { user: user || 'default', password: password ?? '' }
}

/** Throws ClickHouse's refusal unless `given` is the configured user, from where it may connect. */
export function authenticate(given: Credentials, configured: Credentials, remoteAddress: string | undefined): void {
  const failed = (hint = '') => refusal('AUTHENTICATION_FAILED', `${given.user}: Authentication failed: password is incorrect, or there is no user with such name${hint}`)
  if (configured.password === '') {
    if (given.user !== configured.user || given.password !== '') throw failed()
    if (!isLoopback(remoteAddress)) throw failed(' (the user has no password, so only connections from the host running Sluice are accepted: set CLICKHOUSE_HTTP_PASSWORD)')
    return
  }
  if (given.user === configured.user && given.password === '') throw refusal('REQUIRED_PASSWORD', `${given.user}: Authentication failed: password is required`)
  if (given.user !== configured.user || !sameSecret(given.password, configured.password)) throw failed()
}

/** True when `given` is the service user with its password; never while the service password is empty (service access off). */
export function isServiceUser(given: Credentials, service: Credentials): boolean {
  if (service.password === '' || given.user !== service.user) return false
  return sameSecret(given.password, service.password)
}

function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest()
  return timingSafeEqual(digest(a), digest(b))
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address
  return /^127\.\d+\.\d+\.\d+$/.test(v4) || address === '::1'
}
