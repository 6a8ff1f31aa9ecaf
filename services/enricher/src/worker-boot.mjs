// Starts a TypeScript worker thread when running from source: Node 20 does not pass the parent's
// `--import tsx` on to worker threads, so the worker registers tsx itself, then loads its entry.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.entry)
