// Secrets at rest: channel URLs with tokens, header values and SMTP passwords are sealed with
// AES-256-GCM before they reach the channels topic, and opened only in the alerter's memory.
//
// Sealed text: "v1.<iv base64url>.<ciphertext base64url>.<tag base64url>"; the channel's key
// ("<tenant>|<name>") is the additional authenticated data, so a sealed value copied onto another
// channel does not open.
//
// The key: ALERTER_SECRETS_KEY (32 bytes as 64 hex digits or base64), the same on every alerter
// instance; unset, a key file (ALERTER_SECRETS_KEY_FILE) made on first start with mode 0600.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

const KEY_BYTES = 32
const IV_BYTES = 12
const VERSION = 'v1'

/** A 32-byte key from 64 hex digits or base64 (standard or url-safe); throws naming what is wrong. */
export function parseSecretsKey(text: string): Buffer {
  const s = text.trim()
  const key = /^[0-9a-fA-F]{64}$/.test(s) ? Buffer.from(s, 'hex') : Buffer.from(s, 'base64')
  if (key.length !== KEY_BYTES) throw new Error(`expected ${KEY_BYTES} bytes as 64 hex digits or base64, got ${key.length} bytes`)
  return key
}

/** The configured key, or the key file's (created with a random key when missing). */
export function loadSecretsKey(opts: { key?: string | undefined; file: string }): { key: Buffer; source: 'env' | 'file' | 'new file' } {
  if (opts.key !== undefined) return { key: parseSecretsKey(opts.key), source: 'env' }
  if (existsSync(opts.file)) return { key: parseSecretsKey(readFileSync(opts.file, 'utf8')), source: 'file' }
  mkdirSync(path.dirname(opts.file), { recursive: true })
  const key = randomBytes(KEY_BYTES)
  // wx: two instances starting together never overwrite each other's key.
  try {
    writeFileSync(opts.file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { key: parseSecretsKey(readFileSync(opts.file, 'utf8')), source: 'file' }
    throw err
  }
  chmodSync(opts.file, 0o600)
  return { key, source: 'new file' }
}

export class SecretBox {
  readonly #key: Buffer

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new RangeError(`a secrets key is ${KEY_BYTES} bytes`)
    this.#key = key
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv)
    cipher.setAAD(Buffer.from(context, 'utf8'))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
  }

  /** Throws when the text was sealed with another key or context, or was altered. */
  open(sealed: string, context: string): string {
    const [version, iv, body, tag] = sealed.split('.')
    if (version !== VERSION || iv === undefined || body === undefined || tag === undefined) throw new Error('not a sealed secret')
    const decipher = createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(context, 'utf8'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    try {
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      throw new Error('secrets do not open with this key (ALERTER_SECRETS_KEY differs from the one that sealed them?)')
    }
  }
}
