// The notification inbox as ws-fanout reads it: the alerter keeps it in a compacted topic
// (`notificationsTopic(env)`, default "<TOPIC_ALERTS>.notifications") and ws-fanout pushes each
// change live. Only the routing fields are checked here; the item goes to clients as stored, so
// the alerter can add fields without a ws-fanout release.
//
//   key    UTF-8 "<tenant>|<notification id>"   (tenants match [A-Za-z0-9_.-]{1,64}: the first "|" splits)
//   value  UTF-8 JSON InboxItem                  {"v":1,"id":"<alert id>:<version>","tenant":…,"alert_id":…,
//                                                 "version":n,"status":…,"channels":[…],"read_at":…,…}
//          or null: a tombstone, the item was deleted
//
// The same key is written again as delivery results arrive and when someone marks the item read.
import { SluiceError } from '@sluice/core'

/** One record of the inbox topic: an item (new or changed) or a deletion. */
export type InboxChange =
  | { kind: 'item'; tenant: string; id: string; item: Record<string, unknown> }
  | { kind: 'deleted'; tenant: string; id: string }

/** Reads one record; throws SluiceError('DECODE_FAILED') for one that is not an inbox change. */
export function decodeInboxChange(key: Buffer | null, value: Buffer | null): InboxChange {
  if (value === null) {
    const k = key?.toString('utf8') ?? ''
    const bar = k.indexOf('|')
    if (bar < 1 || bar === k.length - 1) throw new SluiceError('DECODE_FAILED', `notification tombstone key ${JSON.stringify(k)} is not "<tenant>|<id>"`)
    return { kind: 'deleted', tenant: k.slice(0, bar), id: k.slice(bar + 1) }
  }
  let item: unknown
  try {
    item = JSON.parse(value.toString('utf8'))
  } catch (err) {
    throw new SluiceError('DECODE_FAILED', `notification value is not JSON: ${(err as Error).message}`, { cause: err })
  }
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new SluiceError('DECODE_FAILED', 'notification value is not a JSON object')
  const { tenant, id } = item as { tenant?: unknown; id?: unknown }
  if (typeof tenant !== 'string' || tenant === '' || typeof id !== 'string' || id === '') throw new SluiceError('DECODE_FAILED', 'notification value has no non-empty string "tenant" and "id"')
  return { kind: 'item', tenant, id, item: item as Record<string, unknown> }
}
