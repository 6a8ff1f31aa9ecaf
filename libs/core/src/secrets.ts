// Secrets at rest (the alerter's channel URLs and passwords, the connectors' cloud credentials):
// sealed with AES-256-GCM before they reach Kafka, opened only in the service's memory.
//
// Sealed text: "v1.<key id>.<iv>.<ciphertext>.<tag>" (base64url parts); the key id is the first
// 8 hex digits of the key's SHA-256, so a box holding the current key and previous ones opens what
// either sealed — rotation: add the new key, keep the old one as previous, re-seal, drop the old.
// A context string (the record's key, e.g. "<tenant>|<name>") is the additional authenticated
// data, so a sealed value copied onto another record does not open.
//
// Keys come from an env var (32 bytes as 64 hex digits or base64), the same on every instance of a
// service; unset, a key file made on first start with mode 0600.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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
  // Written whole beside the file, then linked into place: the link is atomic and fails if the
  // file exists, so two instances starting together agree on one key and neither ever reads a
  // file the other has made but not yet written.
  const text = `${key.toString('base64')}\n`
  const draft = `${opts.file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  writeFileSync(draft, text, { mode: 0o600, flag: 'wx' })
  const made = (create: () => void) => {
    try {
      create()
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw err
    }
  }
  let created: boolean
  try {
    created = made(() => linkSync(draft, opts.file))
  } catch {
    // A file system without hard links: made in place (exclusively) instead.
    created = made(() => writeFileSync(opts.file, text, { mode: 0o600, flag: 'wx' }))
  } finally {
    rmSync(draft, { force: true })
  }
  if (!created) return { key: parseSecretsKey(readFileSync(opts.file, 'utf8')), source: 'file' }
  chmodSync(opts.file, 0o600)
  return { key, source: 'new file' }
}

export class SecretBox {
  readonly #current: { id: string; key: Buffer }
  readonly #keys = new Map<string, Buffer>()

  /** Seals with `key`; opens what `key` or any of `previous` sealed. */
  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    for (const k of [key, ...previous]) {
      if (k.length !== KEY_BYTES) throw new RangeError(`a secrets key is ${KEY_BYTES} bytes`)
      this.#keys.set(keyId(k), k)
    }
    this.#current = { id: keyId(key), key }
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv)
    cipher.setAAD(Buffer.from(context, 'utf8'))
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
    return [VERSION, this.#current.id, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
  }

  /** Whether `sealed` was sealed with an older key (re-seal it to finish a rotation). */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.#current.id
  }

  /** Throws when the text was sealed with a key this box lacks or another context, or was altered. */
  open(sealed: string, context: string): string {
    const [version, id, iv, body, tag] = sealed.split('.')
    if (version !== VERSION || id === undefined || iv === undefined || body === undefined || tag === undefined) throw new Error('not a sealed secret')
    const key = this.#keys.get(id)
    if (key === undefined) throw new Error(`secrets sealed with key ${id}, which is neither the current key nor a previous one`)
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
    decipher.setAAD(Buffer.from(context, 'utf8'))
    decipher.setAuthTag(Buffer.from(tag, 'base64url'))
    try {
      return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
    } catch {
      throw new Error('secrets do not open with this key (the key differs from the one that sealed them, or the record was altered)')
    }
  }
}

/** The first 8 hex digits of the key's SHA-256: names a key without revealing it. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8)
}
