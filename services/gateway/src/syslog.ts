// Syslog listeners (stub: replaced by the syslog implementation).
import type { ProtocolContext } from './protocol.js'

export interface SyslogListeners {
  /** Where each listener listens (host:port), for logs and tests. */
  addresses: { tcp?: string; udp?: string }
  close(): Promise<void>
}

export async function startSyslog(_ctx: ProtocolContext): Promise<SyslogListeners> {
  return { addresses: {}, close: async () => undefined }
}
