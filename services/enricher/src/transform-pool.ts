// Several transforms (one per thread) as one. Each Kafka key (tenant/service) is pinned to one
// transform, so a service's records keep their order and meet one template miner, whichever
// partitions this instance owns. A key seen for the first time is pinned to the transform that
// has had the fewest records lately: a static hash of ~50 keys onto 2 threads splits them 31/19
// and leaves one thread waiting on the other. A chunk is split by transform, the parts run at
// once, and the outcomes are put back in the chunk's order.
//
// Templates: a checkpoint is restored into every miner (each then knows every template), and a
// checkpoint is taken from all of them, merged (templates.ts).
import { SluiceError } from '@sluice/core'
import type { Decoded } from '@sluice/kafka'
import type { DrainSnapshot } from './drain.js'
import { decodeTemplates, encodeTemplates, mergeSnapshots } from './templates.js'
import type { TemplateSource, TemplateState } from './templates.js'
import { pack, unpack } from './transform.js'
import type { Transform } from './transform.js'

export interface InputRecord {
  key: Buffer | null
  value: Buffer | null
}

export interface OutputRecord {
  key: string
  value: Buffer
}

/** FNV-1a of the key bytes: the pin table's key, without making a string per record. */
function hashKey(key: Buffer): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193)
  return h >>> 0
}

/** Keys pinned at most; past it the longest-pinned is forgotten (and pinned afresh if it comes back). */
const MAX_PINS = 100_000
/** Load counts are halved past this many records, so "lately" means roughly the last million. */
const LOAD_WINDOW = 1_000_000

export class TransformPool implements TemplateSource {
  readonly #parts: readonly Transform[]
  /** Revision of each part at the last checkpoint taken. */
  #revisions: number[]
  /** Key hash → the part it is pinned to. */
  readonly #pins = new Map<number, number>()
  /** Records routed to each part lately. */
  readonly #load: number[]

  constructor(parts: readonly Transform[]) {
    if (parts.length === 0) throw new Error('a transform pool needs at least one transform')
    this.#parts = parts
    this.#revisions = parts.map(() => -1)
    this.#load = parts.map(() => 0)
  }

  /** The part a record goes to: its key's pin, or for a new key (or none) the least loaded part. */
  #partOf(key: Buffer | null): number {
    const load = this.#load
    let part = 0
    const h = key ? hashKey(key) : undefined
    const pinned = h === undefined ? undefined : this.#pins.get(h)
    if (pinned !== undefined) part = pinned
    else {
      for (let i = 1; i < load.length; i++) if (load[i]! < load[part]!) part = i
      if (h !== undefined) {
        if (this.#pins.size >= MAX_PINS) this.#pins.delete(this.#pins.keys().next().value!)
        this.#pins.set(h, part)
      }
    }
    if (++load[part]! > LOAD_WINDOW) for (let i = 0; i < load.length; i++) load[i]! /= 2
    return part
  }

  async run(records: readonly InputRecord[]): Promise<Decoded<OutputRecord>[]> {
    const groups: number[][] = this.#parts.map(() => [])
    if (groups.length === 1) groups[0] = records.map((_, i) => i)
    else for (let i = 0; i < records.length; i++) groups[this.#partOf(records[i]!.key)]!.push(i)
    const out = new Array<Decoded<OutputRecord>>(records.length)
    await Promise.all(
      groups.map(async (indexes, t) => {
        if (indexes.length === 0) return
        const result = await this.#parts[t]!.run(pack(indexes.map((i) => records[i]!.value)))
        const values = unpack(result)
        for (let j = 0; j < indexes.length; j++) out[indexes[j]!] = { item: { key: result.keys[j]!, value: values[j]! } }
        for (const f of result.failures) out[indexes[f.index]!] = { error: new SluiceError(f.code, f.message, { canRetry: f.canRetry }) }
      }),
    )
    return out
  }

  async restoreTemplates(bytes: Uint8Array): Promise<number> {
    const snapshot = decodeTemplates(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    await Promise.all(this.#parts.map((p) => p.restore(snapshot)))
    return snapshot.clusters.length
  }

  async templates(sinceRevision: number, maxBytes: number): Promise<TemplateState | undefined> {
    // After a checkpoint that was not saved (sinceRevision is older), every part is asked afresh.
    const known = sinceRevision === this.#revisions.reduce((a, b) => a + b, 0) ? this.#revisions : this.#parts.map(() => -1)
    const taken = await Promise.all(this.#parts.map((p, i) => p.snapshot(known[i]!)))
    // One number for "changed since": the sum of the parts' revisions, each only ever growing.
    const revisions = taken.map((t, i) => t?.revision ?? known[i]!)
    const revision = revisions.reduce((a, b) => a + b, 0)
    if (revision === sinceRevision || taken.every((t) => t === undefined)) return undefined
    // A part unchanged since the last checkpoint still has its templates: ask for them again.
    const snapshots: DrainSnapshot[] = await Promise.all(taken.map(async (t, i) => t?.snapshot ?? (await this.#parts[i]!.snapshot(-1))!.snapshot))
    const merged = mergeSnapshots(snapshots)
    const { bytes, clusters } = encodeTemplates(merged, maxBytes)
    this.#revisions = revisions
    return { bytes, revision, clusters, total: merged.clusters.length }
  }

  async close(): Promise<void> {
    await Promise.all(this.#parts.map((p) => p.close()))
  }
}
