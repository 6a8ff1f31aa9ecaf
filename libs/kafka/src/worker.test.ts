import { describe, expect, it } from 'vitest'
import { allConsumers } from './worker.js'
import type { RunnableConsumer } from './worker.js'

function fake(name: string, log: string[], fail: { start?: boolean; close?: boolean } = {}): RunnableConsumer {
  let running = false
  return {
    get running() {
      return running
    },
    async start() {
      if (fail.start) throw new Error(`${name} cannot start`)
      running = true
      log.push(`start ${name}`)
    },
    async close() {
      running = false
      log.push(`close ${name}`)
      if (fail.close) throw new Error(`${name} cannot close`)
    },
  }
}

describe('allConsumers', () => {
  it('is running only while every consumer runs', async () => {
    const log: string[] = []
    const a = fake('a', log)
    const both = allConsumers([a, fake('b', log)])
    expect(both.running).toBe(false)
    await both.start()
    expect(log).toEqual(['start a', 'start b'])
    expect(both.running).toBe(true)
    await a.close()
    expect(both.running).toBe(false)
  })

  it('closes the consumers already started when a later one fails to start', async () => {
    const log: string[] = []
    const both = allConsumers([fake('a', log), fake('b', log, { start: true })])
    await expect(both.start()).rejects.toThrow('b cannot start')
    expect(log).toEqual(['start a', 'close a'])
  })

  it('closes every consumer even when one fails, and reports the failures together', async () => {
    const log: string[] = []
    const both = allConsumers([fake('a', log, { close: true }), fake('b', log)])
    await both.start()
    const err: unknown = await both.close().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AggregateError)
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['a cannot close'])
    expect(log).toContain('close b')
  })
})
