// Several transforms (one per thread) as one. A record goes to the transform its Kafka key
// (tenant/service) hashes to, so a service's records keep their order and meet one template
// miner, whichever partitions this instance owns. A chunk is split by transform, the parts run
// at once, and the outcomes are put back in the chunk's order.
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

/** FNV-1a of the key bytes: cheap, and the same key always lands on the same transform. */
function slot(key: Buffer | null, n: number): number {
  if (n === 1 || !key) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key[i]!, 0x01000193)
  return (h >>> 0) % n
}

export class TransformPool implements TemplateSource {
  readonly #parts: readonly Transform[]
  /** Revision of each part at the last checkpoint taken. */
  #revisions: number[]

  constructor(parts: readonly Transform[]) {
    if (parts.length === 0) throw new Error('a transform pool needs at least one transform')
    this.#parts = parts
    this.#revisions = parts.map(() => -1)
  }

  get size(): number {
    return this.#parts.length
  }

  async run(records: readonly InputRecord[]): Promise<Decoded<OutputRecord>[]> {
    const n = this.#parts.length
    const groups: number[][] = this.#parts.map(() => [])
    for (let i = 0; i < records.length; i++) groups[slot(records[i]!.key, n)]!.push(i)
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
