// The listening half every local stand-in server shares (webhook receivers, the fake Groq, the
// cloud providers' fakes): a free port of 127.0.0.1, and a close that does not wait for the
// connections clients keep alive or the answers a test holds back — run when the test finishes.
import type { Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { onTestFinished } from 'vitest'

export interface Listening {
  /** http(s)://127.0.0.1:<port> */
  url: string
  /** Idempotent; also run when the test finishes. */
  close(): Promise<void>
}

/**
 * Responses a fake holds open without answering (a stalled provider): `hold` keeps one until the
 * client gives up (`onAbandoned` then runs) or the server closes (`drop`).
 */
export class HeldResponses {
  readonly #held = new Set<ServerResponse>()

  hold(res: ServerResponse, onAbandoned: () => void): void {
    this.#held.add(res)
    res.on('close', () => {
      this.#held.delete(res)
      onAbandoned()
    })
  }

  drop(): void {
    for (const res of this.#held) res.destroy()
  }
}

/** `beforeClose` drops what the server holds (timers, stalled responses) before it stops. */
export async function listenLocal(server: Server, opts: { tls?: boolean; beforeClose?: () => void; afterClose?: () => void } = {}): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`
  let closed: Promise<void> | undefined
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      opts.beforeClose?.()
      server.close(() => resolve())
      server.closeAllConnections()
    }).then(() => opts.afterClose?.())
    return closed
  }
  onTestFinished(close)
  return { url, close }
}
