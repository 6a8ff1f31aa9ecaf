// How many analyst queries run at once. chdb runs each on a libuv worker thread, from a pool of 4
// that the sink's inserts and the query API share: a few analyst queries must not take them all.
// Queries beyond the limit wait for a turn, up to a deadline, in arrival order.
import { refusal } from './errors.js'

export class Slots {
  #free: number
  readonly #maxWaiting: number
  readonly #waiting: Array<() => void> = []

  constructor(size: number, maxWaiting: number) {
    this.#free = size
    this.#maxWaiting = maxWaiting
  }

  async acquire(timeoutMs: number, signal: AbortSignal): Promise<() => void> {
    if (this.#free > 0) {
      this.#free--
      return this.#releaser()
    }
    if (this.#waiting.length >= this.#maxWaiting) throw refusal('TOO_MANY_SIMULTANEOUS_QUERIES', `Too many simultaneous queries. Maximum: ${this.#maxWaiting} waiting`)
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      const leave = (err: Error) => {
        const i = this.#waiting.indexOf(turn)
        if (i >= 0) this.#waiting.splice(i, 1)
        clearTimeout(timer)
        reject(err)
      }
      const onAbort = () => leave(new Error('client went away'))
      const timer = setTimeout(() => leave(refusal('TOO_MANY_SIMULTANEOUS_QUERIES', `Too many simultaneous queries: no turn within ${timeoutMs} ms`)), timeoutMs)
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(turn)
    })
    return this.#releaser()
  }

  #releaser(): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#waiting.shift()
      if (next) next()
      else this.#free++
    }
  }
}

