{{/*
Names, labels and the facts about each target the templates share. The target table mirrors
each services/<name>/src/module.ts and config.ts (port variable and default, consumer group and topic);
test/e2e/helm.e2e.test.ts checks it against them.
*/}}

{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Target names, in the order they are rendered. */}}
{{- define "sluice.targetNames" -}}
[gateway, enricher, clickhouse-sink, alerter, ws-fanout, connectors, query-api]
{{- end -}}

{{/*
Per target: its HTTP port variable and default; for Kafka consumers sharing a group, the
variable naming the group and the topic it reads (for KEDA's lag trigger). ws-fanout has no
shared group (each instance makes its own), connectors divide an empty leases topic: neither
scales on lag.
*/}}
{{- define "sluice.targetTable" -}}
gateway: { port: 8080, portEnv: GATEWAY_PORT }
enricher: { port: 9101, portEnv: ENRICHER_PORT, groupEnv: ENRICHER_GROUP_ID, group: sluice-enricher, topicEnv: TOPIC_LOGS_RAW, topic: logs.raw }
clickhouse-sink: { port: 9102, portEnv: SINK_PORT, groupEnv: SINK_GROUP_ID, group: sluice-clickhouse-sink, topicEnv: TOPIC_LOGS_ENRICHED, topic: logs.enriched }
alerter: { port: 9103, portEnv: ALERTER_PORT, groupEnv: ALERTER_GROUP_ID, group: sluice-alerter, topicEnv: TOPIC_LOGS_ENRICHED, topic: logs.enriched }
ws-fanout: { port: 8090, portEnv: WS_PORT }
connectors: { port: 9104, portEnv: CONNECTORS_PORT, groupEnv: CONNECTORS_GROUP_ID, group: sluice-connectors }
query-api: { port: 8070, portEnv: QUERY_API_PORT }
{{- end -}}

{{/* Embedded ClickHouse: no server URL, so the sink and the query API share one process. */}}
{{- define "sluice.embedded" -}}
{{- if not .Values.clickhouse.url }}true{{ end -}}
{{- end -}}

{{/*
The Deployments and what each runs: {deployment: [targets]}. Embedded mode folds the query API
into the sink's pod: chdb binds its data directory to one process, so a separate query-api pod
would read an empty database of its own.
*/}}
{{- define "sluice.deployments" -}}
{{- $embedded := include "sluice.embedded" . -}}
{{- range $t := fromYamlArray (include "sluice.targetNames" .) }}
{{- if and $embedded (eq $t "clickhouse-sink") }}
{{ $t }}: [clickhouse-sink, query-api]
{{- else if and $embedded (eq $t "query-api") }}
{{- else }}
{{ $t }}: [{{ $t }}]
{{- end }}
{{- end }}
{{- end -}}

{{- define "sluice.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sluice.labels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{ include "sluice.commonLabels" . }}
{{- end -}}

{{/* Labels beside the selector's. */}}
{{- define "sluice.commonLabels" -}}
helm.sh/chart: {{ include "sluice.chart" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sluice
{{- end -}}

{{/* Selector of one Deployment's pods: call with (dict "root" $ "target" NAME). */}}
{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .target }}
{{- end -}}

{{- define "sluice.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "sluice.secretName" -}}
{{- default (printf "%s-secrets" (include "sluice.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The keys file is mounted when keys are asked for or given. */}}
{{- define "sluice.mountKeys" -}}
{{- if or .Values.auth.enabled .Values.auth.apiKeys }}true{{ end -}}
{{- end -}}

{{/* A target's environment as the process sees it: the shared `env`, then the target's own. */}}
{{- define "sluice.targetEnv" -}}
{{- $t := index .root.Values.targets .target -}}
{{- toYaml (merge (dict) (default (dict) $t.env) (default (dict) .root.Values.env)) -}}
{{- end -}}

{{/* The fewest replicas a target runs: KEDA's minimum when KEDA owns it. */}}
{{- define "sluice.minReplicas" -}}
{{- $t := index .root.Values.targets .target -}}
{{- if include "sluice.kedaEnabled" . -}}
{{- $t.keda.minReplicas -}}
{{- else -}}
{{- $t.replicas -}}
{{- end -}}
{{- end -}}

{{- define "sluice.kedaEnabled" -}}
{{- $t := index .root.Values.targets .target -}}
{{- if and .root.Values.keda.enabled $t.keda $t.keda.enabled }}true{{ end -}}
{{- end -}}

{{/*
Values that cannot run, refused while rendering with what to change (better than pods that
crash-loop with the same message).
*/}}
{{- define "sluice.validate" -}}
{{- $v := .Values -}}
{{- $table := fromYaml (include "sluice.targetTable" .) -}}
{{- range $t := fromYamlArray (include "sluice.targetNames" .) }}
{{- if not (hasKey $v.targets $t) }}{{ fail (printf "targets.%s is missing" $t) }}{{ end }}
{{- end }}
{{- range $t, $_ := $v.targets }}
{{- if not (hasKey $table $t) }}{{ fail (printf "targets.%s: unknown target; the targets are %s" $t (join ", " (fromYamlArray (include "sluice.targetNames" $)))) }}{{ end }}
{{- end }}
{{- if include "sluice.embedded" . }}
{{- range $t := list "clickhouse-sink" "query-api" }}
{{- $c := index $v.targets $t }}
{{- if or (gt (int $c.replicas) 1) (include "sluice.kedaEnabled" (dict "root" $ "target" $t)) }}
{{- fail (printf "targets.%s.replicas=%v needs clickhouse.url: without a ClickHouse server the sink and the query API use embedded ClickHouse, whose data one process owns, so they run as one replica in one pod. Set clickhouse.url to a ClickHouse server (http://host:8123) to run more." $t $c.replicas) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $t, $meta := $table }}
{{- if $meta.group }}
{{- $c := index $v.targets $t }}
{{- $max := $c.replicas }}
{{- if include "sluice.kedaEnabled" (dict "root" $ "target" $t) }}
{{- $max = $c.keda.maxReplicas }}
{{- if gt (int $c.keda.minReplicas) (int $c.keda.maxReplicas) }}{{ fail (printf "targets.%s.keda: minReplicas %v exceeds maxReplicas %v" $t $c.keda.minReplicas $c.keda.maxReplicas) }}{{ end }}
{{- end }}
{{- if gt (int $max) (int $v.kafka.topicPartitions) }}
{{- fail (printf "targets.%s: %v instances but kafka.topicPartitions=%v: a consumer group gives each partition to one member, so the instances beyond the partitions would sit idle. Raise kafka.topicPartitions or lower the replicas (or keda.maxReplicas)." $t $max $v.kafka.topicPartitions) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $v.auth.enabled (not $v.auth.apiKeys) (not $v.secrets.existingSecret) }}
{{- fail "auth.enabled=true needs API keys: make a keys file (sluice keys create --id admin --tenant '*' --scope admin --file api-keys.json) and pass --set-file auth.apiKeys=api-keys.json, or name a Secret holding api-keys.json in secrets.existingSecret" }}
{{- end }}
{{- end -}}

{{/*
Secret variables per target: name → required. A required key missing from the Secret keeps the
pod from starting (a clear kubelet event) rather than letting instances make keys of their own.
*/}}
{{- define "sluice.secretEnvTable" -}}
gateway: {}
enricher: { GROQ_API_KEY: false }
clickhouse-sink: { CLICKHOUSE_PASSWORD: false, CLICKHOUSE_HTTP_PASSWORD: false }
alerter: { ALERTER_SECRETS_KEY: true, ALERTER_QUERY_API_KEY: false }
ws-fanout: { WS_AUTH_SECRET: {{ .Values.auth.enabled }} }
connectors: { CONNECTORS_ENCRYPTION_KEY: true }
query-api: { CLICKHOUSE_PASSWORD: false, GROQ_API_KEY: false }
{{- end -}}

{{/*
"true" when `target` is the gateway and serves HTTPS (targets.gateway.tls: a Secret and listeners.http).
*/}}
{{- define "sluice.httpsGateway" -}}
{{- $c := index .root.Values.targets .target -}}
{{- if and (eq .target "gateway") $c.tls $c.tls.secretName $c.tls.listeners $c.tls.listeners.http }}true{{ else }}false{{ end -}}
{{- end }}
