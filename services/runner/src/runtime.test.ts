// The runtime before anything connects: every chosen service's configuration is parsed and every
// issue reported at once, and targets are checked against the one list of services.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError } from '@sluice/config'
import { MODULES, TARGETS, loadConfigs, parseTargets, startRuntime } from './runtime.js'

describe('runtime configuration', () => {
  it('reports every bad variable of every chosen service together, before connecting to anything', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-runtime-'))
    const rules = path.join(dir, 'rules.json')
    writeFileSync(rules, JSON.stringify({ rules: [{ id: 'x', category: 'nonsense', message: 'x' }] }))
    const env = { GATEWAY_PORT: 'eighty', ENRICHER_RULES_FILE: rules, ALERTER_CHECKPOINT_INTERVAL_MS: '-5', SLUICE_STARTUP_TIMEOUT_MS: 'soon', KAFKA_BROKERS: '127.0.0.1:1' }
    let err: unknown
    try {
      loadConfigs(['gateway', 'enricher', 'alerter'], env)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(ConfigError)
    const issues = (err as ConfigError).issues
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^SLUICE_STARTUP_TIMEOUT_MS: /),
        expect.stringMatching(/^GATEWAY_PORT: /),
        expect.stringMatching(/^ENRICHER_RULES_FILE .*rules\.json: invalid rules: rules\.0\.category/),
        expect.stringMatching(/^ALERTER_CHECKPOINT_INTERVAL_MS: /),
      ]),
    )
    // The same through startRuntime: it fails at once (the broker above does not exist).
    const started = Date.now()
    await expect(startRuntime({ targets: ['gateway', 'enricher', 'alerter'], env })).rejects.toBeInstanceOf(ConfigError)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('parses only the chosen targets, and knows every service by its descriptor', () => {
    expect(loadConfigs(['query-api'], { GATEWAY_PORT: 'eighty' }).services.map((s) => s.module.name)).toEqual(['query-api'])
    expect(parseTargets('all')).toEqual([...TARGETS])
    expect(parseTargets('gateway, alerter')).toEqual(['alerter', 'gateway'])
    expect(() => parseTargets('gateway,indexer')).toThrow(/unknown target\(s\) indexer/)
    expect(new Set(MODULES.map((m) => m.port.default)).size).toBe(MODULES.length)
  })
})
