// The socket factory every Kafka client gets: kafkajs's own, plus TCP_NODELAY.
import { once } from 'node:events'
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it, vi } from 'vitest'
import { noDelaySocketFactory } from './client.js'

describe('noDelaySocketFactory', () => {
  it('connects with Nagle’s algorithm off and keep-alive on', async () => {
    const server = net.createServer((s) => s.end())
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const noDelay = vi.spyOn(net.Socket.prototype, 'setNoDelay')
    const keepAlive = vi.spyOn(net.Socket.prototype, 'setKeepAlive')
    try {
      const connected = new Promise<void>((resolve) => {
        // kafkajs passes no `ssl` for a plaintext listener.
        const args = { host: '127.0.0.1', port: (server.address() as AddressInfo).port, onConnect: () => resolve() } as Parameters<typeof noDelaySocketFactory>[0]
        const socket = noDelaySocketFactory(args)
        expect(noDelay).toHaveBeenCalledWith(true)
        expect(keepAlive).toHaveBeenCalledWith(true, 60_000)
        socket.on('error', () => undefined)
      })
      await connected
    } finally {
      noDelay.mockRestore()
      keepAlive.mockRestore()
      server.close()
    }
  })
})
