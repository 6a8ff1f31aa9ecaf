// Starts a TypeScript transform thread when running from source: Node 20 does not pass the
// parent's `--import tsx` on to worker threads, so the thread registers tsx itself, then loads
// its module (which serves itself, see serve.ts).
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.module)
