// How the server ends a stream connection: every close code in one place, and one helper every
// close goes through. A close frame is a control frame of at most 125 bytes, 2 of them the code
// (RFC 6455 §5.5), so a reason is cut to 123 bytes of UTF-8 on a character boundary: ws throws a
// RangeError on a longer one, and a tenant name of 64 characters made the tenant-limit close end
// as 1006 with no reason at all.
import { ellipsizeUtf8 } from './protocol.js'

/** The server is shutting down. */
export const CLOSE_GOING_AWAY = 1001
/** The server is at WS_MAX_CLIENTS: retry later. */
export const CLOSE_TRY_AGAIN_LATER = 1013
/** A bad, expired or missing token. */
export const CLOSE_UNAUTHORIZED = 4001
/** Subscribed to nothing for WS_IDLE_TIMEOUT_MS. */
export const CLOSE_IDLE = 4002
/** Too slow: could take nothing more for WS_CLIENT_STUCK_MS. */
export const CLOSE_STUCK = 4008
/** The tenant's live connections are at its ws_max_connections: retry later. */
export const CLOSE_TENANT_LIMIT = 4029

/** The longest reason a close frame carries, in UTF-8 bytes. */
export const CLOSE_REASON_MAX_BYTES = 123

/** Closes `socket` with `code` and `reason`, the reason cut to fit in the close frame. */
export function closeWith(socket: { close(code: number, reason: string): void }, code: number, reason: string): void {
  socket.close(code, ellipsizeUtf8(reason, CLOSE_REASON_MAX_BYTES))
}
