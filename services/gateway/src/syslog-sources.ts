// Who may send syslog. Syslog carries no credentials, so with SLUICE_AUTH=true the listeners are
// guarded by where messages come from: SYSLOG_ALLOWED_SOURCES, a comma-separated list of addresses
// and CIDR ranges (`10.0.0.0/8, 192.168.1.7, fd00::/8`); empty lets any source send. An IPv4 range
// also matches the IPv4-mapped IPv6 addresses (::ffff:10.0.0.7) a dual-stack listener reports.
import net from 'node:net'

/** Why `entry` is not an address or CIDR range, or undefined when it is one. */
export function sourceProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/')
  const family = net.isIP(address)
  if (family === 0 || extra !== undefined) return `${JSON.stringify(entry)} is not an IP address or CIDR range (e.g. 10.0.0.0/8, 192.168.1.7, fd00::/8)`
  if (prefix === undefined) return undefined
  const bits = Number(prefix)
  const max = family === 4 ? 32 : 128
  if (!/^\d{1,3}$/.test(prefix) || bits > max) return `${JSON.stringify(entry)}: the prefix length must be 0-${max}`
  return undefined
}

/** The allow-list of SYSLOG_ALLOWED_SOURCES: `allows(address)` for a message's source address. */
export class SourceAllowList {
  readonly #list = new net.BlockList()
  readonly any: boolean

  /** `entries` are valid (see sourceProblem); none: every source is allowed. */
  constructor(entries: readonly string[]) {
    this.any = entries.length === 0
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/')
      const type = net.isIP(address) === 6 ? 'ipv6' : 'ipv4'
      if (prefix === undefined) this.#list.addAddress(address, type)
      else this.#list.addSubnet(address, Number(prefix), type)
    }
  }

  allows(address: string | undefined): boolean {
    if (this.any) return true
    if (address === undefined) return false
    const family = net.isIP(address)
    if (family === 0) return false
    return this.#list.check(address, family === 6 ? 'ipv6' : 'ipv4')
  }
}
