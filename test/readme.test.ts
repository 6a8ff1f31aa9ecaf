// The README is the user's reference: every environment variable a service reads is documented.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { envNames } from '@sluice/config'
import * as gateway from '@sluice/gateway'
import * as enricher from '@sluice/enricher'
import * as alerter from '@sluice/alerter'
import * as wsFanout from '@sluice/ws-fanout'
import * as sink from '@sluice/clickhouse-sink'
import * as queryApi from '@sluice/query-api'
import { envSchema as runtimeEnv } from '../services/runner/src/config.js'
import { REPO_ROOT } from './infra/providers.js'

describe('README', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')
  const names = new Set([runtimeEnv, gateway.envSchema, enricher.envSchema, alerter.envSchema, sink.envSchema, queryApi.envSchema, wsFanout.envSchema].flatMap((s) => envNames(s)))

  it('documents every environment variable', () => {
    const missing = [...names].filter((n) => !readme.includes(`\`${n}\``))
    expect(missing).toEqual([])
  })

  it('holds the two commands a newcomer needs', () => {
    expect(readme).toContain('npm ci && npm start')
    expect(readme).toContain('npm ci && npm test')
  })
})
