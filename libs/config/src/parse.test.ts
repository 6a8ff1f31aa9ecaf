import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { ConfigError, parseEnv, readConfigFile } from './parse.js'
import { bool, kafkaEnv, port } from './fields.js'

const schema = z.object({ ...kafkaEnv.shape, PORT: port(8080), DEBUG: bool(false) })

describe('parseEnv', () => {
  it('applies defaults and freezes the result', () => {
    const c = parseEnv(schema, {})
    expect(c.KAFKA_BROKERS).toEqual(['localhost:9092'])
    expect(c.PORT).toBe(8080)
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('treats empty strings as unset and parses lists and booleans', () => {
    const c = parseEnv(schema, { PORT: '', KAFKA_BROKERS: 'a:1, b:2', DEBUG: 'yes' })
    expect(c).toMatchObject({ PORT: 8080, KAFKA_BROKERS: ['a:1', 'b:2'], DEBUG: true })
  })

  it('reports every bad variable by name at once', () => {
    try {
      parseEnv(schema, { PORT: 'http', DEBUG: 'maybe' })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError)
      const issues = (err as ConfigError).issues
      expect(issues).toHaveLength(2)
      expect(issues[0]).toMatch(/^PORT: /)
      expect(issues[1]).toMatch(/^DEBUG: /)
    }
  })
})

describe('readConfigFile', () => {
  it('names the variable and the file when the file is missing or its content is refused', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-config-'))
    const file = path.join(dir, 'rules.json')
    expect(() => readConfigFile('X_RULES_FILE', file, JSON.parse)).toThrow(`X_RULES_FILE ${file}: ENOENT`)
    writeFileSync(file, '{"rules": [')
    expect(() => readConfigFile('X_RULES_FILE', file, JSON.parse)).toThrow(new RegExp(`^X_RULES_FILE ${file}: .*JSON`))
    writeFileSync(file, '{"rules": []}')
    expect(readConfigFile('X_RULES_FILE', file, (t) => (JSON.parse(t) as { rules: unknown[] }).rules)).toEqual([])
    rmSync(dir, { recursive: true })
  })
})
