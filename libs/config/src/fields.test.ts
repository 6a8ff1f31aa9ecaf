import { describe, expect, it } from 'vitest'
import { ConfigError, parseEnv } from './parse.js'
import { clickhouseEnv } from './fields.js'

describe('clickhouseEnv', () => {
  it('bounds CLICKHOUSE_TTL_DAYS to 1-65535 days, what the RetentionDays column holds', () => {
    expect(parseEnv(clickhouseEnv, {}).CLICKHOUSE_TTL_DAYS).toBe(30)
    expect(parseEnv(clickhouseEnv, { CLICKHOUSE_TTL_DAYS: '1' }).CLICKHOUSE_TTL_DAYS).toBe(1)
    expect(parseEnv(clickhouseEnv, { CLICKHOUSE_TTL_DAYS: '65535' }).CLICKHOUSE_TTL_DAYS).toBe(65535)
    for (const days of ['0', '65536', '1.5', 'forever']) {
      expect(() => parseEnv(clickhouseEnv, { CLICKHOUSE_TTL_DAYS: days }), days).toThrow(ConfigError)
    }
    try {
      parseEnv(clickhouseEnv, { CLICKHOUSE_TTL_DAYS: '65536' })
      expect.unreachable()
    } catch (err) {
      expect((err as ConfigError).issues).toEqual([expect.stringMatching(/^CLICKHOUSE_TTL_DAYS: .*65535/)])
    }
  })
})
