// Cutting text to a budget of UTF-8 bytes (a Kafka field, a WebSocket close reason, an error
// message) without splitting a character, which would leave bytes no decoder reads.
const encoder = new TextEncoder()

/** Cuts `s` to at most `maxBytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(s: string, maxBytes: number): { text: string; truncated: boolean } {
  // A UTF-16 unit is at most 3 UTF-8 bytes: short strings skip the byte count entirely.
  if (s.length * 3 <= maxBytes || Buffer.byteLength(s, 'utf8') <= maxBytes) return { text: s, truncated: false }
  // encodeInto writes whole characters only and reports how many UTF-16 units it consumed.
  const { read } = encoder.encodeInto(s, new Uint8Array(Math.max(0, maxBytes)))
  return { text: s.slice(0, read), truncated: true }
}
