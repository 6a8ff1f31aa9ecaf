// The fault suite's own infrastructure: a three-broker KRaft cluster and a schema registry from
// deploy/local/stack.sh, in a state directory and on ports of their own (the test stack on
// 9092/8081 is left alone), plus a TCP proxy in front of ClickHouse that can refuse connections.
import { execFile } from 'node:child_process'
import { createServer, connect } from 'node:net'
import type { Server, Socket } from 'node:net'
import path from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT } from '../infra/providers.js'

const run = promisify(execFile)

export interface ClusterOptions {
  /** State (data, logs, pids) of this cluster. */
  dir: string
  brokers: number
  /** First broker's port; broker i listens on kafkaPort + 2(i-1), its controller one above. */
  kafkaPort: number
  registryPort: number
}

export class ChaosCluster {
  readonly #o: ClusterOptions
  brokers = ''
  registryUrl = ''

  constructor(opts: ClusterOptions) {
    this.#o = opts
  }

  /** Starts (or starts again) every part that is down and waits until all are healthy. */
  async up(): Promise<void> {
    const { stdout } = await this.#stack('up', '--brokers', String(this.#o.brokers))
    this.brokers = /KAFKA_BROKERS=(\S+)/.exec(stdout)?.[1] ?? ''
    this.registryUrl = /SCHEMA_REGISTRY_URL=(\S+)/.exec(stdout)?.[1] ?? ''
  }

  /** SIGKILL of one part: kafka-N or registry. */
  async kill(part: string): Promise<void> {
    await this.#stack('kill', part)
  }

  async down(): Promise<void> {
    await this.#stack('down')
  }

  #stack(...args: string[]) {
    return run('bash', [path.join(REPO_ROOT, 'deploy/local/stack.sh'), ...args], {
      cwd: REPO_ROOT,
      timeout: 20 * 60_000,
      maxBuffer: 16 * 1024 * 1024,
      env: {
        ...process.env,
        KAFKA_BROKERS: '',
        SCHEMA_REGISTRY_URL: '',
        SLUICE_STACK_DIR: this.#o.dir,
        KAFKA_PORT: String(this.#o.kafkaPort),
        KAFKA_CONTROLLER_PORT: String(this.#o.kafkaPort + 1),
        SCHEMA_REGISTRY_PORT: String(this.#o.registryPort),
        // Five JVMs share the machine with the Sluice processes: smaller heaps.
        KAFKA_HEAP_OPTS: '-Xms128m -Xmx512m',
        REGISTRY_HEAP_OPTS: '-Xms64m -Xmx384m',
      },
    })
  }
}

/**
 * A TCP proxy: while open it forwards every connection to `target`; `refuse()` closes the listening
 * port and cuts live connections, so clients get ECONNREFUSED as from a server that is down.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number }
  readonly #sockets = new Set<Socket>()
  #server: Server | undefined
  port = 0

  constructor(target: { host: string; port: number }) {
    this.#target = target
  }

  async open(port = this.port): Promise<number> {
    const server = createServer((client) => {
      const upstream = connect(this.#target)
      for (const s of [client, upstream]) {
        this.#sockets.add(s)
        s.on('close', () => this.#sockets.delete(s))
        s.on('error', () => undefined)
      }
      client.pipe(upstream).pipe(client)
      client.on('close', () => upstream.destroy())
      upstream.on('close', () => client.destroy())
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
    this.port = (server.address() as { port: number }).port
    return this.port
  }

  async refuse(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    if (server) await new Promise<void>((r) => server.close(() => r()))
  }
}
