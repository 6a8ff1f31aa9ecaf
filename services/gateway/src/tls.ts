// TLS for the gateway's listeners: syslog (RFC 5425), GELF, forward and Beats over TCP, and OTLP/gRPC
// (otlp-grpc.ts) and HTTPS (service.ts). One certificate and key (GATEWAY_TLS_CERT_FILE,
// GATEWAY_TLS_KEY_FILE) serve every listener switched to TLS; with GATEWAY_TLS_CLIENT_CA_FILE a
// sender must present a certificate those CAs signed (mutual TLS, the way Beats and Fluent Bit
// authenticate to Logstash and Fluentd), except over HTTPS, whose door is the API keys.
// A listener switched to TLS serves only TLS on its port, as Logstash's beats input with
// ssl_enabled, Fluentd's in_forward with <transport tls> and rsyslog's imtcp with a TLS driver do.
// Served natively rather than by a proxy in front so that the allowed sources (*_ALLOWED_SOURCES)
// and the records' sender addresses stay the senders' own.
//
// Certificates are rotated without a restart (cert-manager, ACME renewals): the files are looked
// at every RELOAD_INTERVAL_MS and, when one changed, read again and handed to every TLS listener
// for its next connections. Files that do not make a valid pair keep the last good ones serving,
// logged as an error.
//
// A handshake that fails (plain text on a TLS port, no client certificate or one no CA signed, no
// common protocol version, none within 10 s) closes that connection; it is counted by listener
// (sluice_gateway_tls_handshake_failures_total) and summed up in the log every 10 s, with the
// sender and the reason. A connection closed before any handshake (a TCP health check) is not.
import { readFileSync, statSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { ServerCredentials } from '@grpc/grpc-js'
import type { Logger } from 'pino'
import { counter } from '@sluice/observability'
import type { Registry } from '@sluice/observability'

export interface TlsFiles {
  certFile: string
  keyFile: string
  clientCaFile?: string | undefined
}

/** The listeners that can speak TLS (each one's switch is in the config's `tlsOn`). */
export type TlsListener = 'http' | 'syslog' | 'gelf' | 'forward' | 'beats' | 'grpc'

/** How often the files are looked at for a new certificate. */
export const RELOAD_INTERVAL_MS = 60_000
/** How long a connection may take to complete its handshake (Node's default is two minutes: a slot held by a sender that never speaks). */
const HANDSHAKE_TIMEOUT_MS = 10_000
/** How often handshake failures are summed up in the log. */
const REPORT_INTERVAL_MS = 10_000

function readPem(envName: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new Error(`${envName} ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
  }
}

/** The files' certificate, key and CAs, checked to make a secure context; throws naming the variable and file. */
export function readTlsFiles(files: TlsFiles): tls.SecureContextOptions {
  const options: tls.SecureContextOptions = { cert: readPem('GATEWAY_TLS_CERT_FILE', files.certFile), key: readPem('GATEWAY_TLS_KEY_FILE', files.keyFile) }
  try {
    tls.createSecureContext(options)
  } catch (err) {
    throw new Error(`GATEWAY_TLS_CERT_FILE ${files.certFile} and GATEWAY_TLS_KEY_FILE ${files.keyFile}: not a PEM certificate and its private key (${err instanceof Error ? err.message : String(err)})`, { cause: err })
  }
  if (files.clientCaFile !== undefined) {
    const ca = readPem('GATEWAY_TLS_CLIENT_CA_FILE', files.clientCaFile)
    // createSecureContext takes text that holds no certificate as no CA at all: every client would be refused.
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error(`GATEWAY_TLS_CLIENT_CA_FILE ${files.clientCaFile}: holds no PEM certificate`)
    try {
      tls.createSecureContext({ ...options, ca })
    } catch (err) {
      throw new Error(`GATEWAY_TLS_CLIENT_CA_FILE ${files.clientCaFile}: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    options.ca = ca
  }
  return options
}

/** What is wrong with `files`, or undefined (the configuration's check at start). */
export function tlsFilesProblem(files: TlsFiles): string | undefined {
  try {
    readTlsFiles(files)
    return undefined
  } catch (err) {
    return err instanceof Error ? err.message : String(err)
  }
}

/** The files' modification times, to notice a new certificate. */
function stampOf(files: TlsFiles): string {
  return [files.certFile, files.keyFile, files.clientCaFile]
    .filter((f): f is string => f !== undefined)
    .map((f) => {
      try {
        const s = statSync(f)
        return `${s.mtimeMs}:${s.size}:${s.ino}`
      } catch {
        return 'missing'
      }
    })
    .join('|')
}

/**
 * gRPC server credentials whose certificate can be replaced while the server runs: grpc-js hands
 * a new secure context to its listening HTTP/2 servers (as its own certificate providers do).
 */
class ReloadableCredentials extends ServerCredentials {
  constructor(mutual: boolean, options: tls.SecureContextOptions) {
    super({ requestCert: mutual, rejectUnauthorized: mutual, minVersion: 'TLSv1.2' }, options)
  }

  update(options: tls.SecureContextOptions): void {
    this.updateSecureContextOptions(options)
  }

  _equals(other: ServerCredentials): boolean {
    return other === this
  }
}

/** The gateway's TLS listeners: one certificate for all, reloaded when its files change. */
export class ListenerTls {
  readonly #files: TlsFiles
  readonly #log: Logger
  readonly #intervalMs: number
  readonly #handshakeTimeoutMs: number
  #options: tls.SecureContextOptions
  #stamp: string
  readonly #servers = new Set<tls.Server>()
  readonly #credentials = new Set<ReloadableCredentials>()
  #timer: NodeJS.Timeout | undefined
  readonly #failuresTotal
  /** Failures since the last summary, by listener: how many, and the last one's sender and reason. */
  readonly #failures = new Map<TlsListener, { count: number; last: string }>()
  #reportTimer: NodeJS.Timeout | undefined

  constructor(files: TlsFiles, registry: Registry, log: Logger, opts: { reloadIntervalMs?: number; handshakeTimeoutMs?: number } = {}) {
    this.#files = files
    this.#log = log.child({ component: 'tls' })
    this.#intervalMs = opts.reloadIntervalMs ?? RELOAD_INTERVAL_MS
    this.#handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS
    this.#stamp = stampOf(files)
    this.#options = readTlsFiles(files)
    this.#failuresTotal = counter(registry, 'sluice_gateway_tls_handshake_failures_total', 'TLS handshakes that failed, by listener (the gateway log says why).', ['listener'])
  }

  get files(): TlsFiles {
    return this.#files
  }

  /**
   * A TLS server for `listener`: `handler` gets each connection once its handshake is done (and,
   * with client CAs, its certificate accepted). Syslog and GELF senders never read, so their
   * listeners stop at TLS 1.2: TLS 1.3 sends session tickets after the handshake, and a sender
   * that closes with them unread makes its kernel reset the connection, dropping what it had not
   * sent yet (pygelf lost records so; OpenSSL's issue 7948).
   */
  server(listener: TlsListener, opts: net.ServerOpts, handler: (socket: net.Socket) => void): tls.Server {
    const mutual = this.#files.clientCaFile !== undefined
    const maxVersion = listener === 'syslog' || listener === 'gelf' ? 'TLSv1.2' : 'TLSv1.3'
    return this.watch(listener, tls.createServer({ ...opts, ...this.#serverOptions(mutual), maxVersion }, handler))
  }

  /**
   * The options of the gateway's HTTPS server (GATEWAY_HTTP_TLS), which `watch` then follows. It
   * asks for no client certificate: API keys are the HTTP door, and health checks and Prometheus
   * present none.
   */
  httpsOptions(): tls.TlsOptions {
    return this.#serverOptions(false)
  }

  #serverOptions(mutual: boolean): tls.TlsOptions {
    return { ...this.#options, requestCert: mutual, rejectUnauthorized: mutual, minVersion: 'TLSv1.2', handshakeTimeout: this.#handshakeTimeoutMs }
  }

  /** Follows `server` (made with these options): reloads reach it, failed handshakes are counted as `listener`'s. */
  watch<S extends tls.Server>(listener: TlsListener, server: S): S {
    server.on('tlsClientError', (err, socket) => {
      // A client certificate no CA signed: Node ends the connection after the handshake, and
      // leaves the reason (a sender without one gets OpenSSL's "certificate required" alert).
      if (socket.authorizationError) return this.#failed(listener, socket, `client certificate refused: ${String(socket.authorizationError)}`)
      const code = (err as { code?: string }).code
      // A connection closed before its handshake (a load balancer's or a probe's TCP check) is no failure.
      if (code === 'ECONNRESET' && socket.remoteAddress === undefined) {
        socket.destroy()
        this.#log.debug({ listener }, 'tls: a connection closed before its handshake')
        return
      }
      this.#failed(listener, socket, code ?? err.message)
    })
    this.#servers.add(server)
    this.#followed()
    server.on('close', () => {
      this.#servers.delete(server)
      this.#unfollowed()
    })
    return server
  }

  /** Server credentials for OTLP/gRPC with this certificate (and client CAs), following its reloads; `release` when the server closed. */
  grpcCredentials(): { credentials: ServerCredentials; release(): void } {
    const credentials = new ReloadableCredentials(this.#files.clientCaFile !== undefined, this.#options)
    this.#credentials.add(credentials)
    this.#followed()
    return {
      credentials,
      release: () => {
        this.#credentials.delete(credentials)
        this.#unfollowed()
      },
    }
  }

  /**
   * Reads the files again if they changed since they were last read, and gives the listeners the
   * new certificate; true when it did. Files that fail keep the current certificate (logged), and
   * are read again once they change again.
   */
  reload(): boolean {
    const stamp = stampOf(this.#files)
    if (stamp === this.#stamp) return false
    this.#stamp = stamp
    let options: tls.SecureContextOptions
    try {
      options = readTlsFiles(this.#files)
    } catch (err) {
      this.#log.error({ err }, 'tls: the certificate files changed but cannot be used; the last good certificate keeps serving')
      return false
    }
    this.#options = options
    for (const server of this.#servers) server.setSecureContext(options)
    for (const credentials of this.#credentials) credentials.update(options)
    this.#log.info({ certFile: this.#files.certFile }, 'tls: certificate reloaded')
    return true
  }

  #failed(listener: TlsListener, socket: tls.TLSSocket, reason: string): void {
    // (Gone once the connection closed, as after a refused client certificate.)
    const from = socket.remoteAddress === undefined ? 'a closed connection' : `${socket.remoteAddress}:${socket.remotePort}`
    // A handshake that timed out is not ended by Node once the server listens for its errors.
    socket.destroy()
    this.#failuresTotal.inc({ listener })
    this.#log.debug({ listener, from, reason }, 'tls handshake failed')
    const f = this.#failures.get(listener) ?? { count: 0, last: '' }
    f.count++
    f.last = `from ${from}: ${reason}`
    this.#failures.set(listener, f)
    this.#reportTimer ??= setTimeout(() => this.#report(), REPORT_INTERVAL_MS).unref()
  }

  #report(): void {
    this.#reportTimer = undefined
    for (const [listener, f] of this.#failures) this.#log.warn({ listener, failures: f.count }, `tls: ${f.count} ${listener} handshake(s) failed in ${REPORT_INTERVAL_MS / 1000} s; the last ${f.last}`)
    this.#failures.clear()
  }

  /** A server or credentials to follow: the files are looked at from now on. */
  #followed(): void {
    this.#timer ??= setInterval(() => this.reload(), this.#intervalMs).unref()
  }

  /** One let go: with none left, the files are no longer looked at. */
  #unfollowed(): void {
    if (this.#servers.size === 0 && this.#credentials.size === 0) this.#stop()
  }

  #stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    if (this.#reportTimer !== undefined) {
      clearTimeout(this.#reportTimer)
      this.#report()
    }
  }
}

/**
 * A TCP server for `listener`: TLS (with `tls`) where the configuration switches that listener to
 * it, plain otherwise. `handler` gets each connection ready to read (after the handshake).
 */
export function tcpServer(on: Readonly<Record<TlsListener, boolean>>, tls: ListenerTls | undefined, listener: TlsListener, opts: net.ServerOpts, handler: (socket: net.Socket) => void): net.Server {
  if (!on[listener]) return net.createServer(opts, handler)
  if (tls === undefined) throw new Error(`${listener}: switched to TLS without a certificate`)
  return tls.server(listener, opts, handler)
}
