// Alert (one state change from the alerts topic) → a row of <db>.alerts (JSONEachRow).
// DateTime64(9) columns take the epoch-nanosecond integer as a string (exact; a JSON number would
// lose precision); absent optional strings become '' as in the logs table, ResolvedAt stays null.
// A value the table cannot take would fail the whole INSERT on every retry and stall the topic, so
// such a record is rejected here (and goes to the DLQ) instead:
// - Version feeds ReplacingMergeTree(Version) and is a UInt32 column: no negative Avro int.
// - ClickHouse reads a 19-digit integer string as nanoseconds but a shorter one as seconds or a
//   date (or not at all), so timestamps must be 19 digits: 2001-09-09 up to the int64 limit.
import { SluiceError } from '@sluice/core'
import type { Alert } from '@sluice/core'

export interface AlertRow {
  Id: string
  Tenant: string
  RuleId: string
  RuleName: string
  RuleKind: string
  ServiceName: string
  PatternId: string
  Severity: string
  Status: string
  Value: number
  Threshold: number
  WindowStart: string
  WindowEnd: string
  StartedAt: string
  UpdatedAt: string
  ResolvedAt: string | null
  AcknowledgedBy: string
  ResolvedBy: string
  ResolveReason: string
  Explanation: string
  Runbook: string[]
  Summary: string
  SampleLogIds: string[]
  Version: number
}

/** 2001-09-09T01:46:40Z, the first instant whose epoch nanoseconds have 19 digits. */
const MIN_NS = 1_000_000_000_000_000_000n

function ns(id: string, field: string, v: bigint): string {
  if (v < MIN_NS) throw new SluiceError('VALIDATION_FAILED', `alert ${id}: ${field} ${v} is before 2001-09-09 (not epoch nanoseconds?)`)
  return v.toString()
}

export function toAlertRow(a: Alert): AlertRow {
  if (!Number.isInteger(a.version) || a.version < 0) {
    throw new SluiceError('VALIDATION_FAILED', `alert ${a.id}: version ${a.version} is not a non-negative integer`)
  }
  return {
    Id: a.id,
    Tenant: a.tenant,
    RuleId: a.rule_id,
    RuleName: a.rule_name,
    RuleKind: a.rule_kind,
    ServiceName: a.service,
    PatternId: a.pattern_id ?? '',
    Severity: a.severity,
    Status: a.status,
    Value: a.value,
    Threshold: a.threshold,
    WindowStart: ns(a.id, 'window_start', a.window_start),
    WindowEnd: ns(a.id, 'window_end', a.window_end),
    StartedAt: ns(a.id, 'started_at', a.started_at),
    UpdatedAt: ns(a.id, 'updated_at', a.updated_at),
    ResolvedAt: a.resolved_at === null ? null : ns(a.id, 'resolved_at', a.resolved_at),
    AcknowledgedBy: a.acknowledged_by ?? '',
    ResolvedBy: a.resolved_by ?? '',
    ResolveReason: a.resolve_reason ?? '',
    Explanation: a.explanation ?? '',
    Runbook: a.runbook,
    Summary: a.summary,
    SampleLogIds: a.sample_log_ids,
    Version: a.version,
  }
}
