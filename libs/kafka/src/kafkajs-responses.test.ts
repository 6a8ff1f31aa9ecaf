// The in-place-responses patch (deploy/patches/kafkajs+2.2.4.patch, src/network/connection.js,
// socket.js, socketFactory.js): kafkajs's own Connection framing responses read into one reused
// buffer (onread) or arriving as 'data' events, cut anywhere, several in one read; and over a
// real socket, through kafkajs's socket factory and Sluice's.
import { createRequire } from 'node:module'
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type SocketFactoryArgs, noDelaySocketFactory } from './client.js'

const require = createRequire(import.meta.url)
const kafkajs = (file: string): unknown => require(`kafkajs/${file}`)

interface Fulfilled {
  size: number
  correlationId: number
  payload: Buffer
}
interface KafkaConnection {
  connect(): Promise<void>
  disconnect(): Promise<void>
  send(protocol: { request: unknown; response: { decode(b: Buffer): Promise<unknown>; parse(d: unknown): Promise<unknown> } }): Promise<unknown>
  processData(data: Buffer, transient?: boolean): void
  requestQueue: { fulfillRequest(r: Fulfilled): void }
  authHandlers: { onSuccess(raw: Buffer): void } | null
  authExpectResponse: boolean
}
type SocketFactory = (args: SocketFactoryArgs) => net.Socket
const Connection = kafkajs('src/network/connection.js') as new (opts: Record<string, unknown>) => KafkaConnection
const defaultSocketFactory = kafkajs('src/network/socketFactory.js') as () => SocketFactory
const Encoder = kafkajs('src/protocol/encoder.js') as new () => unknown
const { createLogger, LEVELS } = kafkajs('src/loggers/index.js') as { createLogger(o: { level: number; logCreator: unknown }): unknown; LEVELS: { NOTHING: number } }

/** Reproducible pseudo-random numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

function connection(socketFactory?: SocketFactory, port = 1): KafkaConnection {
  return new Connection({
    host: '127.0.0.1',
    port,
    logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => undefined }),
    socketFactory: socketFactory ?? defaultSocketFactory(),
    requestTimeout: 5000,
    connectionTimeout: 5000,
    clientId: 'sluice',
  })
}

/** A response as Kafka frames it: size, correlation id, body. */
function frame(correlationId: number, body: Buffer): Buffer {
  const head = Buffer.alloc(8)
  head.writeInt32BE(4 + body.length, 0)
  head.writeInt32BE(correlationId, 4)
  return Buffer.concat([head, body])
}

/** Bodies of every interesting size: none, a byte, under and over Node's pool, over a read. */
function bodies(rand: () => number): Buffer[] {
  return [0, 1, 3, 100, 4095, 5000, 70_000, 300_000, 1_000_000].map((n) => Buffer.from(Array.from({ length: n }, () => Math.floor(rand() * 256))))
}

/** Cut points over `length` bytes: some one byte apart (inside size prefixes too), some far. */
function cuts(length: number, rand: () => number): number[] {
  const points = new Set<number>()
  for (let i = 0; i < 40; i++) points.add(1 + Math.floor(rand() * (length - 1)))
  for (let i = 1; i < 12; i++) points.add(i)
  return [...points].sort((a, b) => a - b)
}

function fulfilled(c: KafkaConnection): Fulfilled[] {
  const got: Fulfilled[] = []
  c.requestQueue = { fulfillRequest: (r) => got.push(r) }
  return got
}

describe('responses (in-place-responses)', () => {
  for (const transient of [true, false]) {
    it(`frames responses cut anywhere, several in one read: ${transient ? 'reads into one reused buffer (onread)' : "'data' events"}`, () => {
      for (let seed = 1; seed <= 6; seed++) {
        const rand = random(seed)
        const expected = bodies(rand).sort(() => rand() - 0.5)
        const stream = Buffer.concat(expected.map((b, i) => frame(1000 + i, b)))
        const c = connection()
        const got = fulfilled(c)
        const reused = Buffer.alloc(stream.length)
        let from = 0
        for (const to of [...cuts(stream.length, rand), stream.length]) {
          if (transient) {
            // As onread does: the read lands in the same memory each time, and is overwritten after.
            stream.copy(reused, 0, from, to)
            c.processData(reused.subarray(0, to - from), true)
            reused.fill(0xee)
          } else {
            c.processData(Buffer.from(stream.subarray(from, to)))
          }
          from = to
        }
        expect(got.map((r) => r.correlationId)).toEqual(expected.map((_, i) => 1000 + i))
        expect(got.map((r) => r.size)).toEqual(expected.map((b) => 4 + b.length))
        for (const [i, r] of got.entries()) expect(r.payload.equals(expected[i]!), `seed ${seed}, response ${i}`).toBe(true)
      }
    })
  }

  it("uses a response wholly inside a 'data' chunk in place, and copies one out of a reused buffer", () => {
    const chunk = Buffer.concat([frame(7, Buffer.from('first')), frame(8, Buffer.alloc(10_000, 1))])
    const owned = connection()
    const fromData = fulfilled(owned)
    owned.processData(chunk)
    expect(fromData.map((r) => r.payload.buffer === chunk.buffer)).toEqual([true, true])

    const reused = connection()
    const fromRead = fulfilled(reused)
    reused.processData(chunk, true)
    expect(fromRead.map((r) => r.payload.buffer === chunk.buffer)).toEqual([false, false])
    chunk.fill(0)
    expect(fromRead.map((r) => r.payload.toString('latin1', 0, 5))).toEqual(['first', '\x01\x01\x01\x01\x01'])
  })

  it('hands an authenticator the whole response with its size prefix, or the raw read, as upstream does', () => {
    const c = connection()
    const seen: Buffer[] = []
    c.authHandlers = { onSuccess: (raw) => seen.push(raw) }
    c.authExpectResponse = true
    const response = frame(3, Buffer.from('sasl-handshake'))
    const reused = Buffer.from(response)
    c.processData(reused.subarray(0, 6), true)
    c.processData(reused.subarray(6), true)
    // Sent in two reads, answered once, framed as it came.
    reused.fill(0)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.equals(Buffer.concat([response.subarray(0, 6), response.subarray(6)]))).toBe(true)

    // Without an expected response (a SASL exchange's raw bytes), the read itself, copied.
    c.authExpectResponse = false
    const raw = Buffer.from('raw-token')
    c.processData(raw, true)
    raw.fill(0)
    expect(seen[1]!.toString()).toBe('raw-token')
  })

  describe('over a socket', () => {
    let server: net.Server | undefined
    afterEach(async () => {
      await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)))
      server = undefined
    })

    /** Answers each request with a body of `sizes[n]` bytes, written in slices a few ms apart. */
    async function answering(sizes: readonly number[]): Promise<number> {
      server = net.createServer((socket) => {
        let pending = Buffer.alloc(0)
        let n = 0
        socket.on('data', async (d) => {
          pending = Buffer.concat([pending, d])
          while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
            const correlationId = pending.readInt32BE(8)
            pending = pending.subarray(4 + pending.readInt32BE(0))
            const size = sizes[n++ % sizes.length]!
            const response = frame(correlationId, Buffer.alloc(size, correlationId & 0xff))
            for (let at = 0; at < response.length; at += 100_003) {
              socket.write(response.subarray(at, at + 100_003))
              await new Promise((resolve) => setTimeout(resolve, 1))
            }
          }
        })
      })
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
      return (server.address() as net.AddressInfo).port
    }

    const request = { apiKey: 18, apiVersion: 0, apiName: 'ApiVersions', encode: async () => new Encoder() }

    for (const [name, factory] of [
      ["kafkajs's socket factory", () => defaultSocketFactory()],
      ["Sluice's (noDelaySocketFactory)", () => noDelaySocketFactory as SocketFactory],
    ] as const) {
      it(`reads responses through onread with ${name}`, async () => {
        const port = await answering([2_000_000, 10, 300_000])
        let reads = 0
        const inner = factory()
        // The factory as kafkajs calls it, counting the reads that come through onread.
        const counting: SocketFactory = (args) => {
          expect(args.onread?.buffer).toBeInstanceOf(Buffer)
          const { callback } = args.onread!
          return inner({ ...args, onread: { buffer: args.onread!.buffer, callback: (n, b) => (reads++, callback(n, b)) } })
        }
        const c = connection(counting, port)
        await c.connect()
        try {
          const payloads = await Promise.all(
            [0, 1, 2, 3].map(() => c.send({ request, response: { decode: async (b) => Buffer.from(b), parse: async (d) => d } }) as Promise<Buffer>),
          )
          expect(payloads.map((p) => p.length)).toEqual([2_000_000, 10, 300_000, 2_000_000])
          // Each body is its correlation id's low byte, all through: no read overwrote another's bytes.
          expect(new Set(payloads.map((p) => p.every((b) => b === p[0])))).toEqual(new Set([true]))
          expect(new Set(payloads.map((p) => p[0])).size).toBe(4)
          expect(reads).toBeGreaterThan(4)
        } finally {
          await c.disconnect()
        }
      })
    }
  })
})
