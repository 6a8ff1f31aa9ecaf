// The Node.js flags a Sluice process runs with: `npm start`, the image's entrypoint, the
// benchmarks and the fault suite pass exactly these (node-flags.test.ts checks the first two).
//
// --max-semi-space-size=64 (MB; V8's default on 64-bit is 16): a record batch lives for the tens
// of milliseconds between its fetch or request and Kafka's acknowledgement. With 16 MB semi-spaces
// the young generation is collected several times in that window, so every in-flight batch
// survives into the old generation and is then marked and compacted there — measured as 12 % of
// the event loop plus most of V8's helper threads in `--target all`. With 64 MB most batches die
// young. End to end CPU per record fell 8–13 % in alternating runs of `BENCH_ONLY=e2e npm run
// bench` on a busy machine (within the noise on a quiet one). V8 grows the young generation only as far as the allocation rate needs, so an idle
// service does not hold the extra memory.
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64']

/** The flags of NODE_FLAGS this process was started without (from the command line or NODE_OPTIONS). */
export function missingNodeFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = new Set([...execArgv, ...nodeOptions.split(/\s+/)].map((f) => f.replace(/_/g, '-')))
  return NODE_FLAGS.filter((f) => !given.has(f))
}
