// Sluice processes of the fault suite: several instances of every target, each its own OS
// process (`sluice run --target <t>` from source), so any one can be SIGKILLed and started again.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import path from 'node:path'
import { NODE_FLAGS } from '@sluice/runner'
import { REPO_ROOT } from '../infra/providers.js'

export interface Member {
  /** e.g. `enricher-2` */
  name: string
  target: string
  env: Record<string, string>
  child?: ChildProcess
  /** The target's HTTP address once it listens. */
  url?: string
}

export class Fleet {
  readonly members = new Map<string, Member>()
  readonly #logDir: string

  constructor(logDir: string) {
    this.#logDir = logDir
    mkdirSync(logDir, { recursive: true })
  }

  /** Starts a member and resolves once its target listens. */
  async start(name: string, target: string, env: Record<string, string>, timeoutMs = 120_000): Promise<Member> {
    const member: Member = this.members.get(name) ?? { name, target, env }
    this.members.set(name, member)
    const entry = ['--conditions=source', '--import', 'tsx', ...NODE_FLAGS, path.join(REPO_ROOT, 'services/runner/src/main.ts')]
    const child = spawn(process.execPath, [...entry, 'run', '--target', target], { cwd: REPO_ROOT, env: { ...process.env, ...member.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    member.child = child
    const log = createWriteStream(path.join(this.#logDir, `${name}.log`), { flags: 'a' })
    child.stderr!.pipe(log)
    let out = ''
    const listening = new RegExp(`sluice ${target} listening on (\\S+)`)
    member.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} did not listen within ${timeoutMs} ms; see ${this.#logDir}/${name}.log`)), timeoutMs)
      child.stdout!.on('data', (d: Buffer) => {
        log.write(d)
        out += d.toString()
        const m = listening.exec(out)
        if (m?.[1]) {
          clearTimeout(timer)
          resolve(m[1])
        }
      })
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`${name} exited with ${code} during start-up; see ${this.#logDir}/${name}.log`))
      })
    })
    child.stdout!.on('data', (d: Buffer) => log.write(d))
    return member
  }

  /** SIGKILL: no drain, no commit, no leaving the group — as a crash or an OOM kill ends it. */
  async kill(name: string): Promise<void> {
    const child = this.#member(name).child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGKILL')
    await exited
  }

  /** SIGTERM and wait: the member drains, commits and leaves its groups (`graceMs` before SIGKILL). */
  async terminate(name: string, graceMs = 30_000): Promise<void> {
    await this.#stop([this.#member(name)], graceMs)
  }

  async restart(name: string): Promise<Member> {
    const m = this.#member(name)
    await this.kill(name)
    return this.start(name, m.target, m.env)
  }

  /**
   * SIGTERM to every member (those named in `last` after the others: the ClickHouse host outlives
   * the sinks that drain into it), then SIGKILL to any still running after `graceMs`.
   */
  async stopAll(last: readonly string[] = [], graceMs = 15_000): Promise<void> {
    const members = [...this.members.values()]
    await this.#stop(members.filter((m) => !last.includes(m.name)), graceMs)
    await this.#stop(members.filter((m) => last.includes(m.name)), graceMs)
  }

  async #stop(members: Member[], graceMs: number): Promise<void> {
    await Promise.all(
      members.map(async (m) => {
        const child = m.child
        if (!child || child.exitCode !== null || child.signalCode !== null) return
        const exited = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
        await exited
        clearTimeout(timer)
      }),
    )
  }

  urls(target: string): string[] {
    return [...this.members.values()].filter((m) => m.target === target && m.url).map((m) => m.url!)
  }

  #member(name: string): Member {
    const m = this.members.get(name)
    if (!m) throw new Error(`no member ${name}`)
    return m
  }
}
