// The start-up check of the bigint long and the short-string reader and writer (avsc-compat.ts):
// it passes on the pinned avsc, and an avsc that stops routing longs through the hooked type, or
// strings through Tap.readString and Tap.writeString, makes it fail, saying what to do. Strings
// read by the installed reader are avsc's own, cached or not; bytes written by the installed
// writer are avsc's own, fitting the buffer or not.
import { createRequire } from 'node:module'
import avro from 'avsc'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AVSC_VERSION, avscCompatProblems, avscTypeOptions, shortStringsInstalled } from './avsc-compat.js'

type WriteString = (this: unknown, s: string) => void
const { Tap } = createRequire(import.meta.url)('avsc/lib/utils.js') as { Tap: { prototype: { readString: () => string | undefined; writeString: WriteString } } }
/** avsc's own string writer, before the first options install Sluice's. */
const avscWriteString = Tap.prototype.writeString
/** `fn` with avsc's own string writer in place. */
function withAvscWriter<T>(fn: () => T): T {
  const installed = Tap.prototype.writeString
  Tap.prototype.writeString = avscWriteString
  try {
    return fn()
  } finally {
    Tap.prototype.writeString = installed
  }
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('avsc compatibility check', () => {
  it(`passes on avsc ${AVSC_VERSION}: records with longs are written and read by the bigint varint code`, () => {
    expect(avscCompatProblems()).toEqual([])
    const type = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'long' }] }, avscTypeOptions())
    expect(type.fromBuffer(type.toBuffer({ n: 2n ** 62n + 1n }))).toEqual({ n: 2n ** 62n + 1n })
  })

  it('gives every caller its own options (avsc keeps named types in them)', () => {
    const a = avscTypeOptions()
    const b = avscTypeOptions()
    expect(a).not.toBe(b)
    expect(a.typeHook).toBe(b.typeHook)
    const schema: avro.Schema = { type: 'record', name: 'Same', fields: [{ name: 'n', type: 'long' }] }
    avro.Type.forSchema(schema, a)
    expect(() => avro.Type.forSchema(schema, avscTypeOptions())).not.toThrow()
  })

  it('fails loudly when avsc no longer hands longs to the hooked type', async () => {
    // As an avsc would that ignored the type hook: longs would be numbers again, or rejected.
    const forSchema = avro.Type.forSchema.bind(avro.Type)
    vi.spyOn(avro.Type, 'forSchema').mockImplementation((schema, opts) => forSchema(schema, { ...opts, typeHook: undefined }))
    expect(avscCompatProblems()).toEqual([expect.stringMatching(/^the bigint long cannot be built or used: /)])

    vi.resetModules()
    const fresh = await import('./avsc-compat.js')
    expect(() => fresh.avscTypeOptions()).toThrow(/cannot carry Sluice's bigint longs[\s\S]*npm ci[\s\S]*avsc-compat\.ts/)
  })

  it('fails loudly when avsc no longer reads strings through Tap.readString', () => {
    // As an avsc would whose map reader decoded its keys itself.
    const mapRead = (avro.types.MapType.prototype as unknown as { _read: (tap: unknown) => unknown })._read
    vi.spyOn(avro.types.MapType.prototype as unknown as { _read: (tap: unknown) => unknown }, '_read').mockImplementation(function (this: unknown, tap: unknown) {
      const own = Tap.prototype.readString
      Tap.prototype.readString = function (this: { readLong(): number; buf: Buffer; pos: number }) {
        const len = this.readLong()
        this.pos += len
        return this.buf.toString('utf8', this.pos - len, this.pos)
      }
      try {
        return mapRead.call(this, tap)
      } finally {
        Tap.prototype.readString = own
      }
    })
    expect(avscCompatProblems()).toEqual([expect.stringMatching(/^a record reader called Tap.readString 2 times for 6 strings/), expect.stringMatching(/^a record reader called Tap.readString 2 times/)])
  })
})

// Strings as a record field, a map's keys and values, and an array's items.
const schema: avro.Schema = {
  type: 'record',
  name: 'Strings',
  fields: [
    { name: 'a', type: 'string' },
    { name: 'm', type: { type: 'map', values: 'string' } },
    { name: 'list', type: { type: 'array', items: 'string' } },
  ],
}

describe('short-string writer', () => {
  // ASCII of every length around the one-byte length's end, and what the writer leaves to avsc's:
  // non-ASCII early, late and last, an emoji, a lone surrogate, control characters.
  const strings = [
    ...Array.from({ length: 70 }, (_, n) => 'abcdefghij'.repeat(7).slice(0, n)),
    'é',
    'caf\u00e9',
    `${'x'.repeat(62)}é`,
    `${'x'.repeat(63)}é`,
    '日本語',
    '😀 ok',
    'lone \ud800 surrogate',
    '\u0000\u0001\u007f',
  ]

  it('is installed by the first options, and writes every string as avsc does', () => {
    avscTypeOptions()
    expect(Tap.prototype.writeString).not.toBe(avscWriteString)
    const type = avro.Type.forSchema(schema, avscTypeOptions())
    for (const s of strings) {
      const value = { a: s, m: { [s]: s, k: s }, list: [s, 'x'] }
      const mine = type.toBuffer(value)
      expect(mine.equals(withAvscWriter(() => type.toBuffer(value))), JSON.stringify(s)).toBe(true)
      // avsc itself writes a lone surrogate as three bytes that read back as U+FFFD.
      if (!s.includes('\ud800')) expect(type.fromBuffer(mine)).toEqual(value)
    }
  })

  it('keeps avsc\'s overflow answer: a record that does not fit reports so, and fits once given the room', () => {
    const type = avro.Type.forSchema(schema, avscTypeOptions())
    for (const s of ['tenant', 'x'.repeat(63), 'café']) {
      const value = { a: s, m: { k: s }, list: [s] }
      const whole = withAvscWriter(() => type.toBuffer(value))
      for (let size = 0; size <= whole.length; size++) {
        const mine = Buffer.alloc(size)
        const avscs = Buffer.alloc(size)
        const end = type.encode(value, mine, 0)
        expect(end, `${JSON.stringify(s)} into ${size} bytes`).toBe(withAvscWriter(() => type.encode(value, avscs, 0)))
        if (end > 0) expect(mine.equals(whole)).toBe(true)
      }
    }
  })

  it('fails the check when avsc no longer writes strings through Tap.writeString', () => {
    // As an avsc would whose map writer encoded its keys itself.
    vi.spyOn(avro.types.MapType.prototype as unknown as { _write: (tap: unknown, v: unknown) => void }, '_write').mockImplementation(function (this: unknown, tap: unknown, v: unknown) {
      const t = tap as { writeLong(n: number): void; buf: Buffer; pos: number }
      const entries = Object.entries(v as Record<string, string>)
      if (entries.length > 0) {
        t.writeLong(entries.length)
        for (const [k, val] of entries) {
          const kb = Buffer.from(k)
          t.writeLong(kb.length)
          kb.copy(t.buf, t.pos)
          t.pos += kb.length
          const vb = Buffer.from(val)
          t.writeLong(vb.length)
          vb.copy(t.buf, t.pos)
          t.pos += vb.length
        }
      }
      t.writeLong(0)
    })
    expect(avscCompatProblems()).toContainEqual(expect.stringMatching(/^a record writer called Tap.writeString 2 times for 6 strings/))
  })
})

describe('short-string reader', () => {

  it('is installed by the first options, and reads every string as avsc does', () => {
    avscTypeOptions()
    expect(shortStringsInstalled()).toBe(true)
    const type = avro.Type.forSchema(schema, avscTypeOptions())
    // ASCII at and past the cached length, non-ASCII, bytes that are no UTF-8 (U+FFFD), empty, and
    // many distinct short strings, so slots are taken over and hashes collide.
    const strings = ['', 'a', 'GET', 'x'.repeat(24), 'y'.repeat(25), 'café', 'ü', '日本', '😀', 'tenant', 'Tenant', 'tenanT', ...Array.from({ length: 5000 }, (_, i) => `k${i.toString(36)}`)]
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < strings.length; i += 50) {
        const chunk = strings.slice(i, i + 50)
        const value = { a: chunk[0]!, m: Object.fromEntries(chunk.map((k, j) => [k, chunk[(j + 1) % chunk.length]!])), list: chunk }
        expect(type.fromBuffer(type.toBuffer(value))).toEqual(value)
      }
    }
    // Invalid UTF-8 inside a short string: U+FFFD as avsc reads it, twice (never served as another string).
    const bytes = Buffer.concat([type.toBuffer({ a: 'ab', m: {}, list: [] })])
    bytes[bytes.indexOf('ab') + 1] = 0xff
    for (let round = 0; round < 2; round++) expect((type.fromBuffer(bytes) as { a: string }).a).toBe('a\ufffd')
    const ascii = type.toBuffer({ a: 'a?', m: {}, list: [] })
    expect((type.fromBuffer(ascii) as { a: string }).a).toBe('a?')
  })

  it('keeps avsc\'s validity: a record cut inside a string, or a negative length, does not read as whole', () => {
    avscTypeOptions()
    const type = avro.Type.forSchema(schema, avscTypeOptions())
    const bytes = type.toBuffer({ a: 'tenant', m: { k: 'v' }, list: ['x'] })
    for (let cut = 1; cut < bytes.length; cut++) expect(type.decode(bytes.subarray(0, cut)).offset).toBe(-1)
    // A string whose length is -1 (zig-zag 0x01).
    expect(type.decode(Buffer.from([0x01])).offset).toBe(-1)
  })
})
