import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import WebSocket from 'ws'
import { HIGH_WATER_BYTES, StreamClient, framePayload, textFrame } from './client.js'

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
  const raw = {
    writableLength: buffered,
    cork: () => void events.push('cork'),
    uncork: () => void events.push('uncork'),
    write(chunk: Buffer) {
      events.push(chunk)
      raw.writableLength += chunk.length
      return true
    },
  }
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
