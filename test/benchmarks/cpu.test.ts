import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { THREAD_GROUPS, cpuWindow, threadMicrosPer } from './cpu.js'

// A thread that keeps a core busy for `ms` of wall time, then ends (or waits to be terminated).
const SPIN = `
const { workerData, parentPort } = require('node:worker_threads')
const until = Date.now() + workerData.ms
let x = 0
while (Date.now() < until) x += Math.sqrt(x + 1)
parentPort.postMessage(x)
if (workerData.stay) setInterval(() => {}, 1000)
`

function spin(ms: number, stay: boolean): { done: Promise<void>; exited: Promise<void>; worker: Worker } {
  const worker = new Worker(SPIN, { eval: true, workerData: { ms, stay } })
  const done = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
  })
  // Listened for from the start: the thread may end before the caller looks.
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  return { done, exited, worker }
}

describe('cpuWindow threadsOf', () => {
  it("splits a process's CPU by thread: the main thread, other Node threads, and threads that ended", async () => {
    const end = cpuWindow({ self: process.pid }, 'bench', ['self'])
    const ended = spin(400, false)
    const live = spin(400, true)
    await Promise.all([ended.done, live.done])
    // The first has ended (its CPU left /proc/<pid>/task); the second is alive when the window closes.
    await ended.exited
    const cpu = end()
    await live.worker.terminate()

    const groups = cpu.threads?.self
    expect(groups).toBeDefined()
    // Ticks are 10 ms; each thread spun 400 ms of wall time, most of it on a core even on a busy machine.
    expect(groups![THREAD_GROUPS.node]).toBeGreaterThan(groups![THREAD_GROUPS.main]!)
    expect(groups![THREAD_GROUPS.ended]).toBeGreaterThan(0)
    expect(groups![THREAD_GROUPS.engine]).toBe(0)
    // The groups add up to the process's total.
    const sum = Object.values(groups!).reduce((a, b) => a + b, 0)
    expect(sum).toBeCloseTo(cpu.processes.self!, 5)
    // As µs per item, in THREAD_GROUPS order.
    const per = threadMicrosPer(cpu, 'self', 1000)
    expect(per.map(([g]) => g)).toEqual(Object.values(THREAD_GROUPS))
    expect(per.reduce((a, [, us]) => a + us, 0)).toBeCloseTo((cpu.processes.self! / 100) * cpu.seconds * 1000, 3)
    expect(threadMicrosPer(cpu, 'other', 1000)).toEqual([])
  })
})
