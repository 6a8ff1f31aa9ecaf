import { createHash } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { framePayload, textFrame } from './client.js'

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
