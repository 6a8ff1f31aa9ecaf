// A bounded schema-driven fuzz run (Schemathesis; the long one is `npm run fuzz`): every HTTP
// service of a Sluice started with every target and API keys required answers every request
// generated from its OpenAPI document — valid, invalid, other methods and content types — with
// something other than a 5xx, and no answer shows a stack frame or a source path. The two 500s
// a hand probe once found, and the one this run found, are asked again by name.
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { hashKey } from '@sluice/auth'
import { TARGETS } from '@sluice/runner'
import { REPO_ROOT } from '../infra/providers.js'
import { isolation, startSluice } from '../infra/sluice.js'
import { LEAK, figuresTable, fuzzService } from '../fuzz/schemathesis.js'

const KEY = 'fuzz-suite-key'
const KEYS = JSON.stringify({ keys: [{ id: 'fuzz', sha256: hashKey(KEY), tenants: ['*'], scopes: ['admin'] }] })
const auth = { authorization: `Bearer ${KEY}` }

describe('HTTP APIs under schema-driven fuzzing', () => {
  it('answer no generated request with a 5xx or with internals, on every service', { timeout: 600_000 }, async () => {
    const rt = await startSluice([...TARGETS], isolation({ SLUICE_AUTH: 'true', SLUICE_API_KEYS: KEYS, WS_AUTH_SECRET: 'fuzz-suite-stream-secret-0123' }))
    const gw = rt.addresses.gateway!

    // The two answers once seen as `500 INTERNAL`, now refusals naming the fault.
    const huge = await fetch(`${gw}/v1/logs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{"message":"m","timestamp":1e30}' })
    expect(huge.status).toBe(400)
    expect(await huge.text()).toMatch(/timestamp/)
    const plain = await fetch(`${gw}/v1/logs`, { method: 'POST', headers: { ...auth, 'content-type': 'text/plain' }, body: 'hello' })
    expect(plain.status).toBe(415)
    expect(plain.headers.get('x-content-type-options')).toBe('nosniff')
    // Found by this run: a Loki query POSTed as multipart (no parser takes it) was a 500, now Loki's 415.
    const form = await fetch(`${rt.addresses['query-api']}/loki/api/v1/query`, { method: 'POST', headers: { ...auth, 'content-type': 'multipart/form-data; boundary=x' }, body: '--x--' })
    expect(form.status).toBe(415)

    const rows = []
    for (const [service, baseUrl] of Object.entries(rt.addresses)) {
      const figures = await fuzzService({
        baseUrl,
        reportDir: path.join(REPO_ROOT, '.local/test-artifacts/fuzz', service),
        maxExamples: 2,
        seed: 15,
        headers: auth,
        phases: ['examples', 'coverage', 'fuzzing'],
        timeoutMs: 300_000,
      })
      rows.push({ run: 'suite', service, figures })
      expect(figures.operations.length, `${service}: ${figures.output}`).toBeGreaterThan(2)
      const failing = figures.operations.filter((o) => o.serverErrors > 0 || o.leaks > 0)
      expect(failing.map((o) => ({ operation: o.operation, serverErrors: o.serverErrors, leaks: o.leaks, samples: o.samples })), service).toEqual([])
    }
    process.stdout.write(`${figuresTable(rows)}\n`)
    // The leak pattern finds what it is meant to find (so a clean run means something).
    expect(LEAK.test('Error: x\n    at handler (/srv/app/dist/main.js:12:3)')).toBe(true)
  })
})
