// The secrets box: sealing with the current key, opening with it or a previous one (rotation),
// the context bound in, tampering refused; and where keys come from.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { SecretBox, keyId, loadSecretsKey, parseSecretsKey } from './secrets.js'

describe('SecretBox', () => {
  it('opens what it sealed only in the same context, and refuses an altered text', () => {
    const box = new SecretBox(randomBytes(32))
    const sealed = box.seal('hunter2', 'acme|ops')
    expect(sealed).not.toContain('hunter2')
    expect(box.open(sealed, 'acme|ops')).toBe('hunter2')
    expect(() => box.open(sealed, 'globex|ops')).toThrow(/do not open/)
    const parts = sealed.split('.')
    parts[3] = Buffer.from('hunter3').toString('base64url')
    expect(() => box.open(parts.join('.'), 'acme|ops')).toThrow(/do not open/)
  })

  it('rotates: a box with the new key and the old one opens both, seals with the new, and says what to re-seal', () => {
    const oldKey = randomBytes(32)
    const newKey = randomBytes(32)
    const before = new SecretBox(oldKey).seal('s3cr3t', 'c')
    const during = new SecretBox(newKey, [oldKey])
    expect(during.open(before, 'c')).toBe('s3cr3t')
    expect(during.isStale(before)).toBe(true)
    const resealed = during.seal(during.open(before, 'c'), 'c')
    expect(during.isStale(resealed)).toBe(false)
    expect(resealed.split('.')[1]).toBe(keyId(newKey))
    // Once the old key is dropped, only re-sealed secrets open.
    const after = new SecretBox(newKey)
    expect(after.open(resealed, 'c')).toBe('s3cr3t')
    expect(() => after.open(before, 'c')).toThrow(new RegExp(`sealed with key ${keyId(oldKey)}`))
  })
})

describe('secrets keys', () => {
  it('reads 64 hex digits or base64, and names a wrong length', () => {
    const key = randomBytes(32)
    expect(parseSecretsKey(key.toString('hex'))).toEqual(key)
    expect(parseSecretsKey(key.toString('base64'))).toEqual(key)
    expect(() => parseSecretsKey('c2hvcnQ=')).toThrow(/32 bytes/)
  })

  it('makes a key file with mode 0600 once and reads it afterwards', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'sluice-key-')), 'sub', 'secrets.key')
    const made = loadSecretsKey({ file })
    expect(made.source).toBe('new file')
    expect(statSync(file).mode & 0o777).toBe(0o600)
    const again = loadSecretsKey({ file })
    expect(again.source).toBe('file')
    expect(again.key).toEqual(made.key)
    expect(parseSecretsKey(readFileSync(file, 'utf8'))).toEqual(made.key)
    expect(loadSecretsKey({ file, key: 'ab'.repeat(32) }).source).toBe('env')
  })

  it('gives instances starting together one key: none reads a key file another has made but not yet written', async () => {
    const module = fileURLToPath(new URL('./secrets.ts', import.meta.url))
    // Each process waits for the same instant, then makes or reads the key.
    const script = `import { loadSecretsKey } from ${JSON.stringify(module)}; const at = Number(process.argv[2]); while (Date.now() < at); const r = loadSecretsKey({ file: process.argv[1] }); process.stdout.write(JSON.stringify({ source: r.source, key: r.key.toString('base64') }))`
    for (let round = 0; round < 4; round++) {
      const dir = mkdtempSync(path.join(tmpdir(), 'sluice-key-race-'))
      const file = path.join(dir, 'secrets.key')
      const at = String(Date.now() + 1500)
      const runs = Array.from({ length: 6 }, () => promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, file, at]))
      const results = (await Promise.all(runs)).map((r) => JSON.parse(r.stdout) as { source: string; key: string })
      expect(new Set(results.map((r) => r.key)).size).toBe(1)
      expect(results.filter((r) => r.source === 'new file')).toHaveLength(1)
      expect(parseSecretsKey(readFileSync(file, 'utf8')).toString('base64')).toBe(results[0]!.key)
      // No draft left behind.
      expect(readdirSync(dir)).toEqual(['secrets.key'])
    }
  }, 60_000)
})
