// CPU accounting during a measured window, from /proc (Linux): which process used how much of a
// core, and how busy the whole machine was. On a 2-core box this tells at a glance whether the
// service, the broker or the load generator is the one that ran out of CPU. Elsewhere: empty.
import { readFileSync, readdirSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { REPO_ROOT } from '../infra/providers.js'

const TICKS_PER_S = 100 // USER_HZ; 100 on every mainstream Linux build

/** A /proc `stat` file's command (or thread) name and CPU ticks (user + system), or undefined when it is gone. */
function readStat(file: string): [string, number] | undefined {
  try {
    const stat = readFileSync(file, 'utf8')
    // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return [stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), Number(fields[11]) + Number(fields[12])]
  } catch {
    return undefined
  }
}

function processTicks(pid: number): number | undefined {
  return readStat(`/proc/${pid}/stat`)?.[1]
}

/** id → [name, ticks] for every numbered entry of a /proc directory that is still there when read. */
function ticksUnder(dir: string): Map<number, [string, number]> {
  const out = new Map<number, [string, number]>()
  let entries: string[] = []
  try {
    entries = readdirSync(dir).filter((e) => /^\d+$/.test(e))
  } catch {
    return out
  }
  for (const e of entries) {
    const stat = readStat(`${dir}/${e}/stat`)
    if (stat) out.set(Number(e), stat)
  }
  return out
}

/** pid → [command name, ticks] for every process visible in /proc. */
const allProcessTicks = (): Map<number, [string, number]> => ticksUnder('/proc')

/** tid → [thread name, ticks] for every thread of `pid`. */
const threadTicks = (pid: number): Map<number, [string, number]> => ticksUnder(`/proc/${pid}/task`)

// A Sluice process's threads by what runs on them, from their names: Node's (V8's, libuv's, the
// worker threads) are named after the executable or their library, the embedded ClickHouse names
// its own (ThreadPool, MergeMutate, BgSchPool, …). A thread that ends within the window takes its
// CPU time out of /proc/<pid>/task with it (the process's total keeps it): ClickHouse starts and
// ends threads as queries come and go, so that share is reported apart rather than guessed.
export const THREAD_GROUPS = {
  main: 'JavaScript main thread',
  node: 'other Node threads (transform threads, GC, I/O)',
  engine: 'ClickHouse engine threads',
  ended: 'threads that ended during the run',
} as const

// Node 20 names every thread of its own `node`; later versions name libuv's and V8's workers.
const NODE_THREAD = /^(?:node$|libuv|V8 )/

function threadGroup(pid: number, tid: number, name: string): string {
  if (tid === pid) return THREAD_GROUPS.main
  return NODE_THREAD.test(name) ? THREAD_GROUPS.node : THREAD_GROUPS.engine
}

function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
    const n = line.trim().split(/\s+/).slice(1, 9).map(Number)
    const total = n.reduce((s, x) => s + x, 0)
    const idle = (n[3] ?? 0) + (n[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** The native stack's broker, when it runs here (other providers: not measured). */
export function kafkaBrokerPid(): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(REPO_ROOT, '.local/stack/run/kafka.pid'), 'utf8').trim())
    return Number.isInteger(pid) && processTicks(pid) !== undefined ? pid : undefined
  } catch {
    return undefined
  }
}

export interface CpuReport {
  /** Length of the window. */
  seconds: number
  /** Label → percent of one core over the window (200 % = both cores of a 2-core box). */
  processes: Record<string, number>
  /** Percent of all cores busy over the window. */
  machine?: number
  /** Percent of one core used by processes not listed (other work sharing the machine skews a run). */
  others?: number
  /** The busiest unlisted processes, "name (pid)" → percent of one core. */
  topOthers?: Record<string, number>
  /** For the processes asked for (`threadsOf`): label → THREAD_GROUPS name → percent of one core. */
  threads?: Record<string, Record<string, number>>
}

/** CPU time (µs) the given processes used over the window, per `count` (records, say). */
export function cpuMicrosPer(cpu: CpuReport, labels: readonly string[], count: number): number {
  const pct = labels.reduce((sum, l) => sum + (cpu.processes[l] ?? 0), 0)
  return ((pct / 100) * cpu.seconds * 1e6) / count
}

/** A process's CPU by thread group (cpuWindow's `threadsOf`), in µs per `count`: [group, µs] in THREAD_GROUPS order. */
export function threadMicrosPer(cpu: CpuReport, label: string, count: number): Array<[string, number]> {
  const groups = cpu.threads?.[label]
  if (!groups) return []
  return Object.values(THREAD_GROUPS).map((g) => [g, (((groups[g] ?? 0) / 100) * cpu.seconds * 1e6) / count])
}

/** CPU a process's threads used between two readings, by THREAD_GROUPS (ticks). */
function threadGroupTicks(pid: number, before: Map<number, [string, number]>, processUsed: number): Record<string, number> {
  const groups: Record<string, number> = { [THREAD_GROUPS.main]: 0, [THREAD_GROUPS.node]: 0, [THREAD_GROUPS.engine]: 0 }
  let live = 0
  for (const [tid, [name, ticks]] of threadTicks(pid)) {
    const had = before.get(tid)
    // A thread started within the window counts from zero (as does a reused id, by its name).
    const used = had !== undefined && had[0] === name && had[1] <= ticks ? ticks - had[1] : ticks
    const group = threadGroup(pid, tid, name)
    groups[group] = (groups[group] ?? 0) + used
    live += used
  }
  groups[THREAD_GROUPS.ended] = Math.max(0, processUsed - live)
  return groups
}

/**
 * Starts a window; the returned function closes it and reports. `threadsOf`: labels of `pids`
 * whose CPU is also split by thread (THREAD_GROUPS).
 */
export function cpuWindow(pids: Record<string, number | undefined>, selfLabel = 'bench (load generator)', threadsOf: readonly string[] = []): () => CpuReport {
  const t0 = performance.now()
  const self0 = process.cpuUsage()
  const m0 = machineTicks()
  const all0 = allProcessTicks()
  const p0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? undefined : processTicks(pid)]))
  const t0s = new Map(threadsOf.flatMap((label) => (pids[label] === undefined ? [] : [[label, threadTicks(pids[label])] as const])))
  return () => {
    const seconds = (performance.now() - t0) / 1000
    const self = process.cpuUsage(self0)
    const processes: Record<string, number> = { [selfLabel]: ((self.user + self.system) / 1e6 / seconds) * 100 }
    const threads: Record<string, Record<string, number>> = {}
    for (const [label, pid] of Object.entries(pids)) {
      const before = p0[label]
      const after = pid === undefined ? undefined : processTicks(pid)
      if (before === undefined || after === undefined) continue
      processes[label] = ((after - before) / TICKS_PER_S / seconds) * 100
      const threadsBefore = t0s.get(label)
      if (threadsBefore === undefined) continue
      const groups = threadGroupTicks(pid!, threadsBefore, after - before)
      threads[label] = Object.fromEntries(Object.entries(groups).map(([g, ticks]) => [g, (ticks / TICKS_PER_S / seconds) * 100]))
    }
    const m1 = machineTicks()
    const machine = m0 && m1 && m1.total > m0.total ? ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 : undefined
    const listedPids = new Set([process.pid, ...Object.values(pids).filter((p): p is number => p !== undefined)])
    const others: Array<[string, number]> = []
    for (const [pid, [name, ticks]] of allProcessTicks()) {
      if (listedPids.has(pid)) continue
      const used = ticks - (all0.get(pid)?.[1] ?? 0)
      if (used > 0) others.push([`${name} (${pid})`, (used / TICKS_PER_S / seconds) * 100])
    }
    others.sort((a, b) => b[1] - a[1])
    const topOthers = Object.fromEntries(others.slice(0, 5))
    const split = Object.keys(threads).length > 0 ? { threads } : {}
    if (machine === undefined) return { seconds, processes, topOthers, ...split }
    const listed = Object.values(processes).reduce((sum, pct) => sum + pct, 0)
    return { seconds, processes, machine, others: Math.max(0, machine * os.cpus().length - listed), topOthers, ...split }
  }
}
