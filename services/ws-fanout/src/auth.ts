// Stream tokens: `base64url(payload).base64url(HMAC-SHA256(secret, payload))`, payload
// `{"tenant":"acme","exp":<unix seconds>}`. The tenant bounds what a connection may see.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { z } from 'zod'

const payloadSchema = z.object({ tenant: z.string().min(1), exp: z.number().int() })
export type TokenPayload = z.infer<typeof payloadSchema>

const sign = (secret: string, body: string) => createHmac('sha256', secret).update(body).digest('base64url')

export function mintToken(secret: string, tenant: string, ttlSeconds = 3600, nowMs = Date.now()): string {
  const body = Buffer.from(JSON.stringify({ tenant, exp: Math.floor(nowMs / 1000) + ttlSeconds })).toString('base64url')
  return `${body}.${sign(secret, body)}`
}

export function verifyToken(secret: string, token: string, nowMs = Date.now()): { ok: true; payload: TokenPayload } | { ok: false; error: string } {
  const [body, mac, extra] = token.split('.')
  if (!body || !mac || extra !== undefined) return { ok: false, error: 'malformed token' }
  const expected = Buffer.from(sign(secret, body))
  const given = Buffer.from(mac)
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return { ok: false, error: 'bad token signature' }
  let payload: TokenPayload
  try {
    const r = payloadSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')))
    if (!r.success) return { ok: false, error: 'malformed token payload' }
    payload = r.data
  } catch {
    return { ok: false, error: 'malformed token payload' }
  }
  if (payload.exp * 1000 <= nowMs) return { ok: false, error: 'token expired' }
  return { ok: true, payload }
}
