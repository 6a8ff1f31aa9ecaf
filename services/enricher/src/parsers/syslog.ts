// Syslog lines inside a message body (RFC 5424 and RFC 3164, as relays such as rsyslog, syslog-ng
// and journald forwarders pass them on). The parser lives in @sluice/core because the gateway's
// syslog listeners read the same formats from the network: one parser, so a line means the same
// whichever way it arrived. Wire formats: libs/core/src/syslog.ts.
export { SYSLOG_FACILITIES, parseSyslog } from '@sluice/core'
export type { SyslogMessage } from '@sluice/core'
