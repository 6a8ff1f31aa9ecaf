// OTLP/gRPC logs on GATEWAY_OTLP_GRPC_PORT (4317, the OpenTelemetry default): the LogsService's
// Export, what the Collector's `otlp` exporter and the SDKs' gRPC exporters send. The request is
// the ExportLogsServiceRequest an OTLP/HTTP protobuf body holds, read by otlp-protobuf.ts and
// accepted as otlp.ts accepts it (records refused one by one are reported in partial_success, the
// rest stored), answered once Kafka acknowledged. The messages pass through as bytes: no .proto is
// loaded. gRPC's statuses say what HTTP's do there, and the OTLP specification's retry rules hold:
//   OK                  accepted (perhaps with partial_success)
//   INVALID_ARGUMENT    the request cannot be read; bad tenant metadata        (not retried)
//   UNAUTHENTICATED     no or an unknown API key (SLUICE_AUTH=true)              (not retried)
//   PERMISSION_DENIED   the key lacks the ingest scope or may not act as the tenant named
//   RESOURCE_EXHAUSTED  a message over GATEWAY_MAX_BODY_BYTES (grpc-js refuses it unread)
//   UNAVAILABLE         Kafka unavailable, the gateway overloaded or the tenant over its ingest
//                       limit: nothing of the request was stored, and exporters retry
// Metadata: `authorization` (Bearer or Basic, as over HTTP), the tenant in `x-scope-orgid` or
// `x-sluice-tenant`. gzip-compressed messages are read by grpc-js.
import { Server, ServerCredentials, status } from '@grpc/grpc-js'
import type { Metadata, ServerUnaryCall, ServiceDefinition, sendUnaryData } from '@grpc/grpc-js'
import { authenticateCall, openSecurity, requestedTenant } from '@sluice/auth'
import { SluiceError, errorMessage, isSluiceError, nowNs } from '@sluice/core'
import type { ErrorCode } from '@sluice/core'
import type { ProtocolContext } from '../protocol.js'
import { acceptOtlp } from './otlp.js'
import { encodeResponse } from './otlp-proto.js'
import { readOtlpProtobuf } from './otlp-protobuf.js'

/** The one method served (a gRPC path). */
export const EXPORT_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export'
const asIs = (b: Buffer): Buffer => b

/** LogsService, its one method taking and answering the encoded messages. */
const LOGS_SERVICE: ServiceDefinition = {
  Export: { path: EXPORT_PATH, requestStream: false, responseStream: false, requestSerialize: asIs, requestDeserialize: asIs, responseSerialize: asIs, responseDeserialize: asIs },
}

const GRPC_STATUS: Partial<Record<ErrorCode, status>> = {
  VALIDATION_FAILED: status.INVALID_ARGUMENT,
  UNAUTHORIZED: status.UNAUTHENTICATED,
  FORBIDDEN: status.PERMISSION_DENIED,
  PAYLOAD_TOO_LARGE: status.RESOURCE_EXHAUSTED,
  RATE_LIMITED: status.UNAVAILABLE,
  OVERLOADED: status.UNAVAILABLE,
  KAFKA_UNAVAILABLE: status.UNAVAILABLE,
  KAFKA_PRODUCE_FAILED: status.UNAVAILABLE,
  REGISTRY_UNAVAILABLE: status.UNAVAILABLE,
  SHUTTING_DOWN: status.UNAVAILABLE,
}

export interface OtlpGrpcListener {
  /** host:port it listens on. */
  address: string
  close(): Promise<void>
}

/** The call's metadata as HTTP-style headers (lower-case names, text values), for the tenant rule and the key. */
function headersOf(metadata: Metadata): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(metadata.getMap())) if (typeof value === 'string') headers[name] = value
  return headers
}

/** Starts the OTLP/gRPC listener; undefined when GATEWAY_OTLP_GRPC_PORT is 0. */
export async function startOtlpGrpc(ctx: ProtocolContext): Promise<OtlpGrpcListener | undefined> {
  const { config } = ctx
  if (config.otlpGrpcPort === 0) return undefined
  const log = ctx.log.child({ component: 'otlp-grpc' })
  const security = ctx.security ?? openSecurity(ctx.log, 'gateway')

  async function exportLogs(call: ServerUnaryCall<Buffer, Buffer>): Promise<Buffer> {
    const headers = headersOf(call.metadata)
    const access = authenticateCall(security, headers, 'ingest', { remote: call.getPeer(), target: `grpc ${EXPORT_PATH}` })
    const defaults = { tenant: access.tenant(requestedTenant({ headers }), config.defaultTenant), source: 'otlp' as const, observedNs: nowNs() }
    const batch = readOtlpProtobuf(call.request, defaults, config.maxRecordBytes)
    const { rejected, message } = await acceptOtlp(batch, { ...defaults, access }, ctx)
    return encodeResponse(rejected, message)
  }

  const server = new Server({ 'grpc.max_receive_message_length': config.maxBodyBytes })
  server.addService(LOGS_SERVICE, {
    Export: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => {
      exportLogs(call).then(
        (response) => callback(null, response),
        (err: unknown) => {
          const code = isSluiceError(err) ? (GRPC_STATUS[err.code] ?? status.INTERNAL) : status.INTERNAL
          if (code === status.INTERNAL) log.error({ err }, 'OTLP/gRPC export failed')
          callback({ code, details: errorMessage(err) })
        },
      )
    },
  })
  // TLS (GATEWAY_OTLP_GRPC_TLS) with the gateway's certificate, followed through its reloads (tls.ts).
  const secure = config.tlsOn.grpc ? ctx.tls?.grpcCredentials() : undefined
  if (config.tlsOn.grpc && secure === undefined) throw new SluiceError('CONFIG_INVALID', 'GATEWAY_OTLP_GRPC_TLS=true needs GATEWAY_TLS_CERT_FILE and GATEWAY_TLS_KEY_FILE')
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${config.host}:${config.otlpGrpcPort}`, secure?.credentials ?? ServerCredentials.createInsecure(), (err, bound) => (err ? reject(new SluiceError('CONFIG_INVALID', `GATEWAY_OTLP_GRPC_PORT ${config.otlpGrpcPort}: ${err.message}`, { cause: err })) : resolve(bound))),
  )
  const address = `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`
  log.info({ address }, `OTLP/gRPC listening on ${address}${secure ? ' (TLS)' : ''}`)
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        // In-flight exports finish (each answers once Kafka did); a stuck one is cut after 10 s.
        const force = setTimeout(() => server.forceShutdown(), 10_000)
        server.tryShutdown(() => {
          clearTimeout(force)
          secure?.release()
          resolve()
        })
      }),
  }
}
