// What a record transform run on worker threads implements, and the messages between the pool
// (main thread) and each thread. A transform there is byte records in, keyed byte records out:
// the values of a chunk packed (packed.ts), results packed the same way with a Kafka key each.
import type { Registry } from 'prom-client'
import type { ErrorCode } from '@sluice/core'
import type { Packed } from './packed.js'

export interface ThreadFailure {
  /** Index of the record in the chunk. */
  index: number
  code: ErrorCode
  message: string
  canRetry: boolean
}

export interface ThreadResult extends Packed {
  /** The Kafka key of each output record (empty for failures). */
  keys: string[]
  failures: ThreadFailure[]
}

/** The transform's state (a template miner, say), taken only when it changed since `revision`. */
export interface ThreadSnapshot {
  snapshot: unknown
  revision: number
}

/** A record transform, on this thread or another. */
export interface RecordTransform {
  run(chunk: Packed): Promise<ThreadResult>
  /** The state, or undefined when unchanged since `sinceRevision`. */
  snapshot(sinceRevision: number): Promise<ThreadSnapshot | undefined>
  /** Adds a snapshot's state; returns how many entries it held. */
  restore(snapshot: unknown): Promise<number>
  close(): Promise<void>
}

/** What a thread module gives `serveTransform`: the transform, built from the pool's `init`. */
export type ThreadTransformFactory = (init: unknown, ctx: { registry: Registry }) => Promise<RecordTransform> | RecordTransform

export type Request = { id: number } & ({ op: 'run'; chunk: Packed } | { op: 'restore'; snapshot: unknown } | { op: 'snapshot'; sinceRevision: number } | { op: 'metrics' })

export type Response = { id: number } & ({ ok: true; value: unknown } | { ok: false; error: { message: string; code?: ErrorCode; canRetry?: boolean } })

export type Ready = { ready: true } | { ready: false; error: string }

/** workerData of a transform thread. */
export interface ThreadData {
  /** Marks a transform thread: its module serves only there. */
  sluiceTransformThread: true
  /** The thread module (file URL); from source it is TypeScript, loaded through tsx. */
  module: string
  init: unknown
}
