import { createHash } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { HIGH_WATER_BYTES, StreamClient, framePayload, textFrame } from './client.js'
import { WriteScheduler } from './writes.js'

describe('textFrame', () => {
  it('frames payloads of every length class so a real ws client reads them back', async () => {
    const texts = ['x', 'y'.repeat(125), 'z'.repeat(126), 'é'.repeat(40_000), 'w'.repeat(70_000)]
    // A bare TCP server that completes the handshake, then writes only pre-built frames.
    const server = createServer((sock) => {
      sock.once('data', (req) => {
        const key = /Sec-WebSocket-Key: (.+)\r\n/i.exec(req.toString())![1]!
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
        for (const t of texts) sock.write(textFrame(t))
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    const got: string[] = []
    ws.on('message', (d: Buffer, isBinary: boolean) => {
      expect(isBinary).toBe(false)
      got.push(d.toString())
    })
    while (got.length < texts.length) await once(ws, 'message')
    expect(got).toEqual(texts)
    for (const t of texts) expect(framePayload(textFrame(t)).toString()).toBe(t)
    ws.terminate()
    server.close()
  })
})

/** A ws WebSocket as StreamClient uses it, over a raw socket that records what happens to it. */
function fakeSocket(buffered = 0) {
  const events: Array<'cork' | 'uncork' | Buffer> = []
  // As a net.Socket: a write that leaves 16 KiB or more buffered returns false, and 'drain' follows once it is written out.
  const raw = Object.assign(new EventEmitter(), {
    writableLength: buffered,
    writableNeedDrain: buffered >= 16 * 1024,
    cork: () => void events.push('cork'),
    uncork: () => void events.push('uncork'),
    write(chunk: Buffer) {
      events.push(chunk)
      raw.writableLength += chunk.length
      if (raw.writableLength >= 16 * 1024) raw.writableNeedDrain = true
      return !raw.writableNeedDrain
    },
  })
  const sent: string[] = []
  const closed: Array<[number, string]> = []
  const socket = {
    OPEN: 1,
    readyState: 1,
    _socket: raw,
    _extensions: {},
    get bufferedAmount() {
      return raw.writableLength
    },
    send: (data: string) => void sent.push(data),
    close: (code: number, reason: string) => void closed.push([code, reason]),
  }
  return { socket: socket as unknown as WebSocket, events, raw, sent, closed }
}

describe('StreamClient.pump', () => {
  it('writes a burst of shared frames as they are, in order, all inside one cork (one writev, no copy)', () => {
    const { socket, events } = fakeSocket()
    let sent = 0
    const client = new StreamClient(socket, { queueMessages: 100, stuckMs: 1000, authenticated: true, onPending: () => {}, onSent: (n) => (sent += n) })
    const frames = ['a', 'bb', 'ccc', 'dddd'].map((t) => textFrame(t))
    for (const f of frames) client.offer(f)
    client.pump()
    expect(events).toEqual(['cork', ...frames, 'uncork'])
    // The very buffers offered (shared by every client that wants them), not copies.
    events.slice(1, -1).forEach((b, i) => expect(b).toBe(frames[i]))
    expect(sent).toBe(4)
    expect(client.queued).toBe(0)
  })

  it('writes what it left at the high-water mark once the socket drains, asking once however often it pumps', () => {
    const { socket, events, raw } = fakeSocket(256 * 1024 - 150)
    const pending: StreamClient[] = []
    const client = new StreamClient(socket, { queueMessages: 100, stuckMs: 1000, authenticated: true, onPending: (c) => void pending.push(c) })
    const frames = Array.from({ length: 5 }, (_, i) => textFrame(String(i).repeat(98)))
    for (const f of frames) client.offer(f)
    pending.length = 0
    client.pump()
    client.pump()
    expect(client.queued).toBe(3)
    expect(raw.listenerCount('drain')).toBe(1)
    expect(pending).toEqual([])
    // The kernel took the buffer: the client is due again, and its next pump writes the rest.
    raw.writableLength = 0
    raw.writableNeedDrain = false
    raw.emit('drain')
    expect(pending).toEqual([client])
    client.pump()
    expect(events.slice(-5)).toEqual(['cork', frames[2], frames[3], frames[4], 'uncork'])
    expect(client.queued).toBe(0)
    expect(raw.listenerCount('drain')).toBe(0)
  })

  it('delivers a burst larger than the high-water mark to a fast reader, one round of writes after another', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    onTestFinished(() => void wss.close())
    await once(wss, 'listening')
    const serverSide = once(wss, 'connection') as Promise<[WebSocket]>
    const reader = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`, { perMessageDeflate: false })
    onTestFinished(() => void reader.terminate())
    const [ws] = await serverSide
    // Written as the service writes its clients: a round of writes a few milliseconds after the
    // first frame waiting, each client once a round (no periodic pump here).
    const writes = new WriteScheduler<StreamClient>({ coalesceMs: 3, sliceMs: 2 })
    onTestFinished(() => writes.close())
    const client = new StreamClient(ws, { queueMessages: 1000, stuckMs: 30_000, authenticated: true, onPending: (c) => writes.add(c) })
    // 800 frames of 1 KiB: more than three times the high-water mark, within the client's queue.
    const frames = Array.from({ length: 800 }, (_, i) => textFrame(JSON.stringify({ type: 'log', i, pad: 'x'.repeat(1000) })))
    let received = 0
    let last = -1
    const all = new Promise<void>((resolve) =>
      reader.on('message', (d: Buffer) => {
        last = (JSON.parse(d.toString()) as { i: number }).i
        if (++received === frames.length) resolve()
      }),
    )
    for (const f of frames) client.offer(f)
    await all
    expect(last).toBe(frames.length - 1)
    expect(client.queued).toBe(0)
  })

  it('writes a full queue to a socket with room before dropping anything; drops the oldest for one that stays full', () => {
    const fast = fakeSocket()
    let fastDropped = 0
    const reader = new StreamClient(fast.socket, { queueMessages: 3, stuckMs: 1000, authenticated: true, onPending: () => {}, onDropped: (n) => (fastDropped += n) })
    const frames = Array.from({ length: 10 }, (_, i) => textFrame(`frame ${i}`))
    for (const f of frames) reader.offer(f)
    reader.pump()
    expect(fastDropped).toBe(0)
    expect(fast.events.filter((e) => e instanceof Buffer)).toEqual(frames)

    const stalled = fakeSocket(HIGH_WATER_BYTES)
    let stalledDropped = 0
    const slow = new StreamClient(stalled.socket, { queueMessages: 3, stuckMs: 1000, authenticated: true, onPending: () => {}, onDropped: (n) => (stalledDropped += n) })
    for (const f of frames) slow.offer(f)
    expect(stalledDropped).toBe(7)
    expect(slow.queued).toBe(3)
    expect(stalled.events.filter((e) => e instanceof Buffer)).toEqual([])
  })

  it('stops at the high-water mark and keeps the rest queued for the next pump', () => {
    const { socket, events } = fakeSocket(256 * 1024 - 150)
    const client = new StreamClient(socket, { queueMessages: 100, stuckMs: 1000, authenticated: true, onPending: () => {} })
    const frames = Array.from({ length: 5 }, (_, i) => textFrame(String(i).repeat(98)))
    for (const f of frames) client.offer(f)
    client.pump()
    // 150 bytes of room: the first frame (100 bytes) fits, the second goes past it and is the last written.
    expect(events).toEqual(['cork', frames[0], frames[1], 'uncork'])
    expect(client.queued).toBe(3)
  })
})

describe('StreamClient.reply', () => {
  it('drops replies while the socket holds the high-water mark, counts them, and closes with 4008 once that lasts stuckMs', () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] })
    onTestFinished(() => void vi.useRealTimers())
    const { socket, sent, closed } = fakeSocket(HIGH_WATER_BYTES)
    let dropped = 0
    const client = new StreamClient(socket, { queueMessages: 10, stuckMs: 1000, authenticated: true, onDropped: (n) => (dropped += n) })
    // A client that sends without reading: its answers would otherwise pile up in the server's memory.
    for (let i = 0; i < 100; i++) client.reply({ type: 'error', message: 'invalid JSON' })
    expect(sent).toEqual([])
    expect(dropped).toBe(100)
    vi.advanceTimersByTime(1000)
    client.reply({ type: 'error', message: 'invalid JSON' })
    expect(closed).toEqual([])
    vi.advanceTimersByTime(1)
    client.reply({ type: 'error', message: 'invalid JSON' })
    expect(closed).toEqual([[4008, 'client too slow: not reading its replies']])
  })

  it('answers again once the client reads, first telling it how many messages it lost', () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ['Date'] })
    onTestFinished(() => void vi.useRealTimers())
    const { socket, raw, sent, closed } = fakeSocket(HIGH_WATER_BYTES)
    const client = new StreamClient(socket, { queueMessages: 10, stuckMs: 1000, authenticated: true })
    client.reply({ type: 'paused' })
    client.reply({ type: 'resumed' })
    raw.writableLength = 0
    client.pump()
    vi.advanceTimersByTime(5000)
    client.reply({ type: 'paused' })
    expect(sent).toEqual(['{"type":"dropped","count":2}', '{"type":"paused"}'])
    expect(closed).toEqual([])
  })
})
