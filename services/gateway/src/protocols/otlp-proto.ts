// OTLP's protobuf messages for logs (opentelemetry-proto v1: common, resource, logs and
// collector/logs) and google.rpc.Status, written out from the spec's field numbers and parsed once
// with protobufjs: the gateway encodes its responses with them, and tests build requests with
// them. Requests are not decoded with them: otlp-protobuf.ts reads those straight from the wire.
import protobuf from 'protobufjs'
import type { Type } from 'protobufjs'

const COMMON = `
syntax = "proto3";
package opentelemetry.proto.common.v1;

message AnyValue {
  oneof value {
    string string_value = 1;
    bool bool_value = 2;
    int64 int_value = 3;
    double double_value = 4;
    ArrayValue array_value = 5;
    KeyValueList kvlist_value = 6;
    bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope {
  string name = 1;
  string version = 2;
  repeated KeyValue attributes = 3;
  uint32 dropped_attributes_count = 4;
}
`

const RESOURCE = `
syntax = "proto3";
package opentelemetry.proto.resource.v1;

message Resource {
  repeated .opentelemetry.proto.common.v1.KeyValue attributes = 1;
  uint32 dropped_attributes_count = 2;
}
`

const LOGS = `
syntax = "proto3";
package opentelemetry.proto.logs.v1;

message ResourceLogs {
  .opentelemetry.proto.resource.v1.Resource resource = 1;
  repeated ScopeLogs scope_logs = 2;
  string schema_url = 3;
}
message ScopeLogs {
  .opentelemetry.proto.common.v1.InstrumentationScope scope = 1;
  repeated LogRecord log_records = 2;
  string schema_url = 3;
}
enum SeverityNumber {
  SEVERITY_NUMBER_UNSPECIFIED = 0;
  SEVERITY_NUMBER_TRACE = 1; SEVERITY_NUMBER_TRACE2 = 2; SEVERITY_NUMBER_TRACE3 = 3; SEVERITY_NUMBER_TRACE4 = 4;
  SEVERITY_NUMBER_DEBUG = 5; SEVERITY_NUMBER_DEBUG2 = 6; SEVERITY_NUMBER_DEBUG3 = 7; SEVERITY_NUMBER_DEBUG4 = 8;
  SEVERITY_NUMBER_INFO = 9; SEVERITY_NUMBER_INFO2 = 10; SEVERITY_NUMBER_INFO3 = 11; SEVERITY_NUMBER_INFO4 = 12;
  SEVERITY_NUMBER_WARN = 13; SEVERITY_NUMBER_WARN2 = 14; SEVERITY_NUMBER_WARN3 = 15; SEVERITY_NUMBER_WARN4 = 16;
  SEVERITY_NUMBER_ERROR = 17; SEVERITY_NUMBER_ERROR2 = 18; SEVERITY_NUMBER_ERROR3 = 19; SEVERITY_NUMBER_ERROR4 = 20;
  SEVERITY_NUMBER_FATAL = 21; SEVERITY_NUMBER_FATAL2 = 22; SEVERITY_NUMBER_FATAL3 = 23; SEVERITY_NUMBER_FATAL4 = 24;
}
message LogRecord {
  reserved 4;
  fixed64 time_unix_nano = 1;
  fixed64 observed_time_unix_nano = 11;
  SeverityNumber severity_number = 2;
  string severity_text = 3;
  .opentelemetry.proto.common.v1.AnyValue body = 5;
  repeated .opentelemetry.proto.common.v1.KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7;
  fixed32 flags = 8;
  bytes trace_id = 9;
  bytes span_id = 10;
  string event_name = 12;
}
`

const COLLECTOR = `
syntax = "proto3";
package opentelemetry.proto.collector.logs.v1;

message ExportLogsServiceRequest { repeated .opentelemetry.proto.logs.v1.ResourceLogs resource_logs = 1; }
message ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1; }
message ExportLogsPartialSuccess {
  int64 rejected_log_records = 1;
  string error_message = 2;
}
`

const RPC = `
syntax = "proto3";
package google.rpc;

message Status {
  int32 code = 1;
  string message = 2;
  repeated .google.protobuf.Any details = 3;
}
`

const ANY = `
syntax = "proto3";
package google.protobuf;

message Any { string type_url = 1; bytes value = 2; }
`

const root = new protobuf.Root()
for (const text of [COMMON, RESOURCE, LOGS, COLLECTOR, ANY, RPC]) protobuf.parse(text, root)
root.resolveAll()

const type = (name: string): Type => root.lookupType(name)

/** The spec's messages (camelCase field names, as protobufjs and OTLP JSON write them). */
export const spec = {
  ExportLogsServiceRequest: type('opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest'),
  LogRecord: type('opentelemetry.proto.logs.v1.LogRecord'),
  AnyValue: type('opentelemetry.proto.common.v1.AnyValue'),
  ExportLogsServiceResponse: type('opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse'),
  Status: type('google.rpc.Status'),
} as const

function bytes(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** ExportLogsServiceResponse; an empty message (zero bytes) when nothing was rejected. */
export function encodeResponse(rejected: number, errorMessage: string): Buffer {
  const message = rejected > 0 || errorMessage !== '' ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage } } : {}
  return bytes(spec.ExportLogsServiceResponse.encode(message).finish())
}

/** google.rpc.Status, the body of every OTLP/HTTP error response. */
export function encodeStatus(code: number, message: string): Buffer {
  return bytes(spec.Status.encode({ code, message }).finish())
}
