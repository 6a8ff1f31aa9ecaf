// The README is the user's reference: every environment variable a service reads is documented.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { envNames } from '@sluice/config'
import { MODULES } from '@sluice/runner'
import { envSchema as runtimeEnv } from '../services/runner/src/config.js'
import { REPO_ROOT } from './infra/providers.js'

describe('README', () => {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8')
  const names = new Set([runtimeEnv, ...MODULES.map((m) => m.envSchema)].flatMap((s) => envNames(s)))

  it('documents every environment variable', () => {
    const missing = [...names].filter((n) => !readme.includes(`\`${n}\``))
    expect(missing).toEqual([])
  })

  it('documents every service with its default port', () => {
    for (const m of MODULES) expect(readme, m.name).toMatch(new RegExp(`${m.name}\\b[^\\n]*\\b${m.port.default}\\b`))
  })

  it('holds the two commands a newcomer needs', () => {
    expect(readme).toContain('npm ci && npm start')
    expect(readme).toContain('npm ci && npm test')
  })
})
