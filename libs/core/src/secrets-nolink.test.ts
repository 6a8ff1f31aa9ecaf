// The secrets key file where the file system has no hard links (linkSync refuses): made in place
// instead, exclusively, and read back the same.
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import type * as fsModule from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { expect, it, vi } from 'vitest'
import { loadSecretsKey, parseSecretsKey } from './secrets.js'

vi.mock('node:fs', async (actual) => {
  const fs = await actual<typeof fsModule>()
  return {
    ...fs,
    linkSync: () => {
      throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' })
    },
  }
})

it('makes the key file in place where hard links are refused, and reads it afterwards', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-key-nolink-'))
  const file = path.join(dir, 'secrets.key')
  const made = loadSecretsKey({ file })
  expect(made.source).toBe('new file')
  expect(statSync(file).mode & 0o777).toBe(0o600)
  expect(parseSecretsKey(readFileSync(file, 'utf8'))).toEqual(made.key)
  expect(loadSecretsKey({ file })).toEqual({ key: made.key, source: 'file' })
  // No draft left behind.
  expect(readdirSync(dir)).toEqual(['secrets.key'])
})
