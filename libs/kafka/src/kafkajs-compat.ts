// kafkajs as Sluice runs it: version 2.2.4 (pinned exactly in libs/kafka/package.json) with the
// patches in deploy/patches/kafkajs+2.2.4.patch, applied to node_modules by patch-package (the
// root `postinstall`; deploy/Dockerfile runs it explicitly). That patch file is the source of
// truth; this module only checks, once at start-up (createKafka), that it is the code actually
// loaded, and fails loudly otherwise: a missing patch breaks nothing visibly, it only costs
// most of the producer's throughput, or a third of a consumer's CPU. The patches, each marked by
// a `sluicePatch` property on what its module exports, which the check reads through the very
// module kafkajs requires:
// - linear-grouping (src/producer/groupMessagesPerPartition.js): upstream spreads the
//   partition's array once per message, O(n²) in the batch size (tulios/kafkajs#1576, merged
//   upstream only in a fork, never released): at 6 000 records per request it halves producer
//   throughput. Patched: the same grouping in linear time.
// - native-crc32c (src/protocol/recordBatch/crc32C/index.js): the record-batch CRC-32C was a
//   byte-at-a-time JavaScript loop over every produced byte. Patched: @node-rs/crc32 (hardware
//   CRC-32C, same result; the broker checks it on every batch).
// - sized-record (src/protocol/recordBatch/record/v0/index.js): each record's encoder started at
//   512 bytes and grew by reallocating and copying, though the record's size is computed first:
//   a record over ~500 bytes (every enriched log) cost a second buffer and a copy. Patched: the
//   same record in one buffer of its size. Still used for compressed batches.
// - one-buffer-batch (src/protocol/requests/produce/v3/request.js with the new
//   src/protocol/recordBatch/v0/uncompressed.js and src/protocol/sizedEncoder.js): upstream
//   spreads every message into a new object, encodes each record on its own (a Buffer per
//   varint), then copies the records three times on the way into the RecordBatch, and the
//   batch twice more into the topic and request Encoders: ~7 µs of CPU per produced ~400-byte
//   record with the three patches above. Patched: an uncompressed partition's RecordBatch is
//   written straight from the messages into one buffer of its exact size (sizes first, then the
//   bytes, then the CRC), byte for byte what upstream writes. The topic and request levels are
//   no longer copies either: each is its few header bytes followed by the partitions' buffers as
//   written (a Gathered list of pieces, src/protocol/sizedEncoder.js). Compressed batches keep
//   upstream's path for the batch itself.
// - sized-request (src/protocol/request.js): every request was copied twice more, into two
//   growing Encoders, to prepend its size and header. Patched: one copy, into a buffer of its
//   size; a produce request (held in pieces) gets a header buffer in front and is not copied.
//   With one-buffer-batch: ~1.5 µs of CPU per produced record.
// - gather-write (src/network/connection.js): a request held in pieces is written piece by piece
//   into the corked socket, leaving in one writev. Each produced byte is now allocated and copied
//   once (into its RecordBatch), where the three wrappers copied it three more times: new Buffer
//   memory is what makes V8 collect the young generation (every 32 MiB of new ArrayBuffers), and
//   these copies were a third of the main thread's under `--target all`.
// - in-place-responses (src/network/connection.js, socket.js, socketFactory.js): upstream
//   received each response as a new Buffer per socket read, then concatenated them into one more:
//   every fetched byte was allocated twice, and new Buffer memory paces V8's young-generation
//   collections (above). Patched: kafkajs hands the socket factory an `onread` for net.connect
//   (client.ts's factory and kafkajs's own pass it), so a plain connection reads into one buffer
//   reused by every connection of the thread, and each response is copied once, into a buffer of
//   its size, as its bytes arrive (a small response into Node's shared Buffer pool). TLS
//   connections and factories without `onread` still deliver 'data' events: the same framing,
//   and a response wholly inside one read is used in place, as upstream did. A consumer reading
//   600 000 records of 600 bytes (3 partitions, 10 MB per partition and fetch) to the end, four
//   alternating runs each: 2.82 µs of CPU per record before, 2.29 after.
// - in-place-records (src/protocol/recordBatch/v0/decoder.js with the new
//   src/protocol/recordBatch/v0/uncompressedDecoder.js, and src/protocol/requests/fetch/v4/
//   decodeMessages.js, which every fetch version from 4 uses; kafkajs fetches with v11 from Kafka
//   4): upstream gives every consumed record its own Buffer and Decoder, a dozen Long objects for
//   its timestamp delta, and parses the batch's first offset and timestamp into BigInts again for
//   each record: decoding fetch responses of ~600-byte records took ~2 µs of CPU per record.
//   Patched: an uncompressed batch's records are read in place, offsets and timestamps added as
//   numbers while exact (else as BigInts), into the very objects upstream returns (~1.1 µs, most
//   of it the garbage collector moving those records); anything Kafka does not write, and
//   compressed batches, take upstream's code. The batches of a record set are appended in a loop:
//   upstream's push(...records) threw RangeError from ~125 000 records in one batch.
// - string-offset-filter (src/consumer/batch.js): a Batch compared every record's offset with the
//   fetched one through BigInt parsing and two Longs (~90 ns per record). Patched: canonical
//   decimal strings compared as strings (~40 ns), anything else as before.
//   With in-place-records: a consumer of 300 000 such records (3 partitions, Sluice's fetch sizes)
//   spends ~2.1 µs of CPU per record instead of ~2.8, a third of what is left in the kernel
//   (socket reads, page faults on each fresh fetch response).
// - acked-messages (src/producer/sendMessages.js): upstream keeps one response per broker across
//   retries and skips every broker that has answered; when a partition's leader dies and its
//   leadership moves to a broker that had already acknowledged its own partitions, that
//   partition's messages are never sent, yet send() resolves (tulios/kafkajs#1303, open; #1798,
//   unreleased). Sluice's fault suite found it: a broker SIGKILLed under load lost 44 records the
//   gateway had acknowledged. Patched: acknowledged messages are tracked one by one, and each
//   attempt sends exactly the others to the leaders of the moment (kafkajs-send.test.ts).
// To change a patch: edit node_modules/kafkajs, bump its marker there and below, then run
// `npx patch-package kafkajs --patch-dir deploy/patches` (and kafkajs-compat.test.ts).
import { createRequire } from 'node:module'
import { dirname } from 'node:path'
import { SluiceError, errorMessage } from '@sluice/core'

export const KAFKAJS_VERSION = '2.2.4'

interface Patch {
  /** The patched module, relative to the kafkajs package root. */
  file: string
  /** The export carrying the marker, when it is not the module's export itself. */
  exportName?: string
  /** The marker's value: bumped whenever the patch changes, so a stale install is caught too. */
  marker: string
}

export const KAFKAJS_PATCHES: readonly Patch[] = [
  { file: 'src/producer/groupMessagesPerPartition.js', marker: 'linear-grouping/1' },
  { file: 'src/producer/sendMessages.js', marker: 'acked-messages/1' },
  { file: 'src/protocol/recordBatch/crc32C/index.js', marker: 'native-crc32c/1' },
  { file: 'src/protocol/recordBatch/record/v0/index.js', marker: 'sized-record/1' },
  { file: 'src/protocol/requests/produce/v3/request.js', marker: 'one-buffer-batch/2' },
  { file: 'src/protocol/recordBatch/v0/uncompressed.js', exportName: 'encodeUncompressedRecordBatch', marker: 'one-buffer-batch/1' },
  { file: 'src/protocol/request.js', marker: 'sized-request/2' },
  { file: 'src/network/connection.js', marker: 'gather-write+in-place-responses/1' },
  { file: 'src/network/socket.js', marker: 'in-place-responses/1' },
  { file: 'src/network/socketFactory.js', marker: 'in-place-responses/1' },
  { file: 'src/protocol/recordBatch/v0/decoder.js', marker: 'in-place-records/1' },
  { file: 'src/protocol/recordBatch/v0/uncompressedDecoder.js', exportName: 'decodeUncompressedRecords', marker: 'in-place-records/1' },
  { file: 'src/protocol/requests/fetch/v4/decodeMessages.js', marker: 'in-place-records/1' },
  { file: 'src/consumer/batch.js', marker: 'string-offset-filter/1' },
]

const FIX =
  'Run `npm ci` at the repository root (its postinstall applies deploy/patches), or, with kafkajs ' +
  `${KAFKAJS_VERSION} installed already, \`npx patch-package --patch-dir deploy/patches\`.`

/** A require() resolving from the kafkajs package root that `import 'kafkajs'` loads here. */
function kafkajsRequire(): { require: NodeJS.Require; root: string } {
  const main = createRequire(import.meta.url).resolve('kafkajs')
  return { require: createRequire(main), root: dirname(main) }
}

function markerOf(exported: unknown, exportName: string | undefined): unknown {
  const target = exportName === undefined ? exported : (exported as Record<string, unknown> | null)?.[exportName]
  return typeof target === 'function' || (typeof target === 'object' && target !== null)
    ? (target as { sluicePatch?: unknown }).sluicePatch
    : undefined
}

function inspect(): { root: string; problems: string[] } {
  let req: ReturnType<typeof kafkajsRequire>
  try {
    req = kafkajsRequire()
  } catch (err) {
    return { root: '(not found)', problems: [`kafkajs cannot be resolved: ${errorMessage(err)}`] }
  }
  const problems: string[] = []
  const { version } = req.require('./package.json') as { version?: string }
  if (version !== KAFKAJS_VERSION) problems.push(`kafkajs ${String(version)} is installed, Sluice pins ${KAFKAJS_VERSION}`)
  for (const { file, exportName, marker } of KAFKAJS_PATCHES) {
    let found: unknown
    try {
      found = markerOf(req.require(`./${file}`), exportName)
    } catch (err) {
      problems.push(`${file}: cannot be loaded (${errorMessage(err).split('\n')[0]})`)
      continue
    }
    if (found !== marker) {
      problems.push(`${file}: patch ${marker} is not loaded (${found === undefined ? 'unpatched' : `found ${String(found)}`})`)
    }
  }
  return { root: req.root, problems }
}

/** Every way the running kafkajs differs from the pinned, patched one; empty when it does not. */
export function kafkajsCompatProblems(): string[] {
  return inspect().problems
}

let verified = false

/**
 * Throws, listing every problem and what to run, unless the running kafkajs is the pinned
 * version with every patch loaded. Checks once per process (and thread): later calls return.
 */
export function assertKafkajsCompat(): void {
  if (verified) return
  const { root, problems } = inspect()
  if (problems.length > 0) {
    throw new SluiceError(
      'CONFIG_INVALID',
      `kafkajs at ${root} is not the patched kafkajs ${KAFKAJS_VERSION} Sluice runs on:\n  - ${problems.join('\n  - ')}\n${FIX}`,
    )
  }
  verified = true
}
