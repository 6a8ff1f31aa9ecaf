// The start-up check of the bigint long (avsc-compat.ts): it passes on the pinned avsc, and an
// avsc that stops routing longs through the hooked type makes it fail, saying what to do.
import avro from 'avsc'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AVSC_VERSION, avscCompatProblems, avscTypeOptions } from './avsc-compat.js'

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
})
