// Syslog listeners: the devices, daemons and relays (rsyslog, syslog-ng, logger, network gear)
// that speak only syslog send to the gateway as to a syslog server, over TCP (SYSLOG_TCP_PORT) and
// UDP (SYSLOG_UDP_PORT), both on HOST; 0 switches a listener off. The sockets, ordering, push-back
// and drop reports are the stream listeners' (stream-listeners.ts); here each message — a TCP frame
// (syslog-framing.ts) or a UDP datagram — becomes a record (syslog-record.ts), with source
// "syslog" and the tenant SYSLOG_TENANT (default GATEWAY_DEFAULT_TENANT: syslog carries no tenant,
// and no credentials), from the senders SYSLOG_ALLOWED_SOURCES allows.
import type { ProtocolContext } from './protocol.js'
import { quote, startStreamListeners } from './stream-listeners.js'
import type { StreamListeners } from './stream-listeners.js'
import { SYSLOG_SERVICE, syslogEvent, syslogRecord } from './syslog-record.js'
import type { SyslogRecord } from './syslog-record.js'

export type SyslogListeners = StreamListeners
export { MAX_QUEUED_BYTES } from './stream-listeners.js'

export function startSyslog(ctx: ProtocolContext): Promise<SyslogListeners> {
  const { config } = ctx
  return startStreamListeners(ctx, {
    name: 'syslog',
    names: { title: 'Syslog', unparsed: 'stored unparsed (neither RFC 5424 nor RFC 3164)' },
    tcpPort: config.syslogTcpPort,
    udpPort: config.syslogUdpPort,
    tenant: config.syslogTenant,
    allowedSources: config.syslogAllowedSources,
    env: { sources: 'SYSLOG_ALLOWED_SOURCES', tcpPort: 'SYSLOG_TCP_PORT', udpPort: 'SYSLOG_UDP_PORT' },
    /**
     * A frame or datagram as the record `id`, made into its LogEvent here where it can be
     * (syslogEvent); unparsed ones are noted on the `first` reading only. Frames wait for their batch
     * as bytes and become records only when the batch goes to Kafka: objects made earlier would live
     * through a Kafka round trip and cost the garbage collector far more than the bytes do.
     */
    toRecord(line, from, nowMs, id, first, d, report, log) {
      let r: SyslogRecord
      try {
        r = syslogRecord(line, nowMs)
      } catch (err) {
        // A parser bug must not take the gateway down from inside a socket's data handler.
        if (first) log.error({ err, from }, `syslog: could not read ${quote(line)}; stored unparsed`)
        r = { record: { message: line, service: SYSLOG_SERVICE, attributes: { 'syslog.format': 'unparsed' } }, parsed: false }
      }
      if (!r.parsed && first) report.unparsed(`from ${from}: ${quote(line)}`)
      const event = syslogEvent(r.record, id, d)
      if (event) return event
      r.record.id = id
      return r.record
    },
  })
}
