import { describe, expect, it } from 'vitest'
import { createLogger } from './logger.js'

describe('the process logger', () => {
  it('redacts API keys in every header they travel in, passwords and tokens', () => {
    const lines: string[] = []
    const log = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } })
    log.info({ req: { headers: { authorization: 'Bearer slk_a', 'x-api-key': 'slk_b', host: 'h' } } }, 'request')
    log.child({ component: 'x' }).warn({ request: { headers: { authorization: 'Basic c2xrX2M=', 'x-api-key': 'slk_d' } }, smtp: { password: 'p' }, ws: { token: 't' } }, 'call')
    log.info({ headers: { 'x-api-key': 'slk_e' } }, 'bare')
    // Datadog's header, as its Agent and clients send the key.
    log.info({ req: { headers: { 'dd-api-key': 'slk_f' } }, headers: { 'dd-api-key': 'slk_g' } }, 'datadog')
    const text = lines.join('')
    for (const secret of ['slk_a', 'slk_b', 'c2xrX2M=', 'slk_d', 'slk_e', 'slk_f', 'slk_g', '"p"', '"t"']) expect(text).not.toContain(secret)
    expect(text).toContain('"host":"h"')
    expect(text.match(/\[redacted\]/g)).toHaveLength(9)
  })
})
