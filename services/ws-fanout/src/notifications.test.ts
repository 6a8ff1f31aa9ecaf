// Reading the notification inbox topic: items pass through as stored, tombstones name the item
// from the key, and anything else is refused with DECODE_FAILED (the stage reports it as failed).
import { describe, expect, it } from 'vitest'
import { isSluiceError } from '@sluice/core'
import { inboxItem } from '../../../test/infra/inbox.js'
import { decodeInboxChange } from './notifications.js'

const bytes = (s: string) => Buffer.from(s, 'utf8')

function refusal(key: Buffer | null, value: Buffer | null): string {
  try {
    decodeInboxChange(key, value)
  } catch (err) {
    expect(isSluiceError(err) && err.code).toBe('DECODE_FAILED')
    return (err as Error).message
  }
  throw new Error('expected a refusal')
}

describe('inbox change decoding', () => {
  it('reads an item with its tenant and id from the value, keeping every field as stored', () => {
    const item = inboxItem({ extra: { added: 'later' } })
    expect(decodeInboxChange(bytes('acme|fp-1:2'), bytes(JSON.stringify(item)))).toEqual({ kind: 'item', tenant: 'acme', id: 'fp-1:2', item })
  })

  it('reads a tombstone as a deletion named by the key, split at the first "|"', () => {
    expect(decodeInboxChange(bytes('acme|fp-1:2'), null)).toEqual({ kind: 'deleted', tenant: 'acme', id: 'fp-1:2' })
    expect(decodeInboxChange(bytes('team.a-1|odd|id'), null)).toEqual({ kind: 'deleted', tenant: 'team.a-1', id: 'odd|id' })
  })

  it('refuses values that are not JSON objects with string tenant and id, and tombstones without a usable key', () => {
    expect(refusal(bytes('acme|x'), bytes('{"tenant":'))).toMatch(/not JSON/)
    expect(refusal(bytes('acme|x'), bytes('[1,2]'))).toMatch(/not a JSON object/)
    expect(refusal(bytes('acme|x'), bytes('null'))).toMatch(/not a JSON object/)
    expect(refusal(bytes('acme|x'), bytes(JSON.stringify(inboxItem({ tenant: 7 }))))).toMatch(/"tenant" and "id"/)
    const { id: _, ...noId } = inboxItem()
    expect(refusal(bytes('acme|x'), bytes(JSON.stringify(noId)))).toMatch(/"tenant" and "id"/)
    expect(refusal(null, null)).toMatch(/tombstone key "" /)
    expect(refusal(bytes('acme'), null)).toMatch(/not "<tenant>\|<id>"/)
    expect(refusal(bytes('|fp-1:2'), null)).toMatch(/not "<tenant>\|<id>"/)
    expect(refusal(bytes('acme|'), null)).toMatch(/not "<tenant>\|<id>"/)
  })
})
