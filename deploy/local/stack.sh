#!/usr/bin/env bash
# Native local infrastructure for Sluice (no Docker): KRaft Kafka (one node, or a cluster of N on
# this machine) + Apicurio Registry.
# Kafka 4.4.0 (latest 4.x on Maven Central): kafkajs 2.2.4 verified against it - createTopics, listTopics,
#   idempotent sendBatch with acks=-1, eachBatch consumer group with manual commits, group restart resuming
#   from committed offsets, fetchOffsets and fetchTopicOffsets all pass; 3.9.x fallback not needed.
# Apicurio Registry 3.0.9, not the newer 3.3.x: 3.3.x is compiled for Java 21 (class file 65) and fails on the
#   Java 17 baseline. Storage is KafkaSQL, so schemas and ids live (and die) with the Kafka data.
#
# Usage: stack.sh up [--brokers N] | down [--purge] | reset | status | logs [PART] [--no-follow] [-n LINES]
#        | kill PART (SIGKILL, for fault drills; `up` starts it again)
# Env:   KAFKA_BROKERS / SCHEMA_REGISTRY_URL (use an external part, nothing is started for it),
#        KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), SCHEMA_REGISTRY_PORT (8081),
#        SLUICE_STACK_BROKERS (1; same as --brokers), SLUICE_STACK_DIR (data, logs, pids; default
#        <repo>/.local/stack), SLUICE_STACK_START_TIMEOUT_S (180).
# A cluster of N brokers: node i (1..N) listens on KAFKA_PORT + 2(i-1) and its controller on
# KAFKA_CONTROLLER_PORT + 2(i-1) (9092/9093, 9094/9095, 9096/9097); parts are named kafka-1..kafka-N.
# With three or more, topics get three replicas and min.insync.replicas=2. The count is fixed when
# the storage is formatted: a different one needs `reset` first.
set -Eeuo pipefail

readonly KAFKA_VERSION=4.4.0
readonly LOG4J_VERSION=2.25.5
readonly APICURIO_VERSION=3.0.9
# dependency:copy from plugin 3.x insists on reading the archive's parent pom, which some Central
# mirrors lack for Apicurio 3.0.9; 2.10 resolves the single file only.
readonly COPY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:2.10:copy

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/../.." && pwd)"
readonly SCRIPT_DIR REPO_ROOT
readonly CACHE_DIR="$REPO_ROOT/.cache/stack"
readonly STATE_DIR="${SLUICE_STACK_DIR:-$REPO_ROOT/.local/stack}"
readonly LOG_DIR="$STATE_DIR/logs" RUN_DIR="$STATE_DIR/run"
readonly KAFKA_HOME="$CACHE_DIR/kafka_2.13-$KAFKA_VERSION"
readonly REGISTRY_HOME="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"

readonly KAFKA_PORT="${KAFKA_PORT:-9092}"
readonly KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
readonly SCHEMA_REGISTRY_PORT="${SCHEMA_REGISTRY_PORT:-8081}"
readonly START_TIMEOUT_S="${SLUICE_STACK_START_TIMEOUT_S:-180}"
readonly STOP_TIMEOUT_S=30
readonly KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
readonly REGISTRY_HEAP_OPTS="${REGISTRY_HEAP_OPTS:--Xms128m -Xmx512m}"

# An endpoint given in the environment means "this part is external": never install or start it.
readonly KAFKA_EXTERNAL="${KAFKA_BROKERS:-}"
readonly REGISTRY_EXTERNAL="${SCHEMA_REGISTRY_URL:-}"
BROKER_COUNT="${SLUICE_STACK_BROKERS:-}" # set by `up --brokers`, else read from the formatted stack
readonly LOCAL_REGISTRY_BASE="http://localhost:$SCHEMA_REGISTRY_PORT"
readonly LOCAL_REGISTRY_URL="$LOCAL_REGISTRY_BASE/apis/ccompat/v7"

JAVA_BIN="${JAVA_HOME:+$JAVA_HOME/bin/}java"

# ---------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------

say() { printf '%s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() { # die MESSAGE [EXIT_CODE]
  printf 'stack: %s\n' "$1" >&2
  exit "${2:-1}"
}

# ---------------------------------------------------------------------------------------------
# Prerequisites: one clear line naming what to install, exit 2, never a stack trace.
# ---------------------------------------------------------------------------------------------

require_java() {
  command -v "$JAVA_BIN" >/dev/null 2>&1 ||
    die "java 17+ not found: install a JDK 17+, e.g. apt-get install openjdk-17-jdk-headless (or set JAVA_HOME)" 2
  local spec
  spec="$("$JAVA_BIN" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2; exit}')"
  spec="${spec#1.}" # Java 8 reports "1.8"
  [[ "$spec" =~ ^[0-9]+$ ]] || die "could not determine the java version of $JAVA_BIN: install a JDK 17+" 2
  ((spec >= 17)) ||
    die "java $spec found but 17+ is required: install a JDK 17+, e.g. apt-get install openjdk-17-jdk-headless (or set JAVA_HOME)" 2
}

require_mvn() {
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found (needed once, to fetch Kafka and Apicurio from Maven Central): install Maven 3.6+, e.g. apt-get install maven" 2
}

require_tools() {
  local tool
  for tool in curl tar timeout od; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: install it, e.g. apt-get install $tool" 2
  done
}

# ---------------------------------------------------------------------------------------------
# Installation into the git-ignored cache. Each part is assembled in a ".partial" directory and
# renamed when complete, so an interrupted download is redone instead of half-used.
# ---------------------------------------------------------------------------------------------

# Quiet on success; on failure Maven's own messages, minus the colour codes that Debian's
# Maven 3.8 emits even in batch mode when the output is not a terminal.
run_mvn() {
  local out
  out="$(mvn -q -B -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" "$@" 2>&1)" && return 0
  printf '%s\n' "$out" | sed $'s/\x1b\\[[0-9;]*m//g' >&2
  return 1
}

install_kafka() {
  [[ -f "$KAFKA_HOME/.complete" ]] && return 0
  require_mvn
  say "kafka: first use, resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and its runtime jars via Maven..."
  local tmp="$KAFKA_HOME.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp/libs"
  run_mvn -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" ||
    die "kafka: Maven could not resolve the Kafka jars (see the Maven errors above)"
  ls "$tmp/libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "kafka: Maven finished but kafka_2.13 jar is missing in $tmp/libs"
  touch "$tmp/.complete"
  rm -rf "$KAFKA_HOME"
  mv "$tmp" "$KAFKA_HOME"
}

install_registry() {
  [[ -f "$REGISTRY_HOME/.complete" ]] && return 0
  require_mvn
  say "registry: first use, resolving io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all via Maven (~110 MB)..."
  local tmp="$REGISTRY_HOME.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp/download"
  run_mvn "$COPY_PLUGIN" \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$tmp/download" ||
    die "registry: Maven could not resolve the Apicurio archive (see the Maven errors above)"
  tar -xzf "$tmp/download/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$tmp"
  rm -rf "$tmp/download" # the archive stays in the Maven local repository
  [[ -n "$(registry_runner_jar "$tmp")" ]] || die "registry: no runner jar found in the Apicurio archive"
  touch "$tmp/.complete"
  rm -rf "$REGISTRY_HOME"
  mv "$tmp" "$REGISTRY_HOME"
}

# The Quarkus entry point: "<app>-runner.jar" in 3.0.x (legacy-jar), "quarkus-run.jar" in later releases.
registry_runner_jar() {
  local home="$1" jar
  for jar in "$home"/*-runner.jar "$home"/quarkus-run.jar; do
    [[ -f "$jar" ]] && { printf '%s\n' "$jar"; return 0; }
  done
  return 0
}

# ---------------------------------------------------------------------------------------------
# Processes: pid files under $RUN_DIR; a pid only counts if it is still the process we started.
# ---------------------------------------------------------------------------------------------

pid_file() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }
log_file() { printf '%s/%s.log\n' "$LOG_DIR" "$1"; }

# Marker in the command line, so a recycled pid (after a reboot) is never mistaken for ours.
process_marker() {
  case "$1" in
    kafka | kafka-*) printf 'kafka.Kafka' ;;
    registry) printf 'apicurio-registry' ;;
  esac
}

# Prints the pid of a running part, or nothing.
running_pid() {
  local name="$1" file pid
  file="$(pid_file "$name")"
  [[ -f "$file" ]] || return 0
  pid="$(<"$file")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    ps -o args= -p "$pid" 2>/dev/null | grep -qF -- "$(process_marker "$name")"; then
    printf '%s\n' "$pid"
  fi
}

# Starts a command detached from this shell (own session, stdin closed) so it outlives the
# caller, e.g. an npm script or a CI step. The child writes its own pid before exec'ing, which
# stays right even if setsid has to fork.
spawn() { # spawn NAME COMMAND...
  local name="$1" log pidfile i
  shift
  log="$(log_file "$name")"
  pidfile="$(pid_file "$name")"
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  [[ -s "$log" ]] && mv -f "$log" "$log.1" # one previous run is kept for post-mortems
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $0/$@ belong to the inner shell
  # fd 9 (the up/down lock) is closed: a daemon holding it would block every later up/down.
  nohup setsid bash -c 'echo "$$" >"$0"; exec "$@"' "$pidfile" "$@" >"$log" 2>&1 </dev/null 9>&- &
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.1
  done
  die "$name: process did not start (no pid file); see $log"
}

stop_part() { # stop_part NAME
  local name="$1" pid i
  pid="$(running_pid "$name")"
  if [[ -z "$pid" ]]; then
    rm -f "$(pid_file "$name")"
    say "$name: not running"
    return 0
  fi
  say "$name: stopping (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < STOP_TIMEOUT_S * 2; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name: still running after ${STOP_TIMEOUT_S}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    sleep 0.5
  fi
  rm -f "$(pid_file "$name")"
  say "$name: stopped"
}

# ---------------------------------------------------------------------------------------------
# Health checks
# ---------------------------------------------------------------------------------------------

# True if something accepts TCP connections on HOST:PORT.
port_open() {
  # shellcheck disable=SC2016 # $0/$1 belong to the inner shell
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# True if a Kafka broker on HOST:PORT answers an ApiVersions request without error. The broker
# only serves clients once it has caught up with the metadata log, so this is a real readiness
# check, unlike an open port. Needs no Kafka CLI and no JVM start.
#
# Request  (ApiVersions v0): int32 size=15 | int16 api_key=18 | int16 api_version=0
#                            | int32 correlation_id=0x53 | string client_id (int16 len=5, "probe")
# Response (first 10 bytes): int32 size | int32 correlation_id=0x53 | int16 error_code=0
kafka_ready() {
  local reply
  # shellcheck disable=SC2016 # $0/$1 belong to the inner shell
  reply="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x53\x00\x05probe" >&3
    head -c 10 <&3 | od -An -tx1' "$1" "$2" 2>/dev/null)" || return 1
  reply="${reply//[[:space:]]/}"
  [[ "$reply" =~ ^[0-9a-f]{8}000000530000$ ]]
}

# External brokers may speak TLS/SASL, so for them reachability of any bootstrap server is enough.
external_kafka_reachable() {
  local broker host port
  local -a brokers
  IFS=',' read -ra brokers <<<"$KAFKA_EXTERNAL"
  for broker in "${brokers[@]}"; do
    broker="${broker#*://}"
    broker="${broker// /}"
    host="${broker%:*}"
    port="${broker##*:}"
    host="${host#[}"
    host="${host%]}"
    [[ -n "$host" && "$port" =~ ^[0-9]+$ ]] && port_open "$host" "$port" && return 0
  done
  return 1
}

# The ccompat listing is what the services call first. For the local registry, /health/ready is
# also required: it turns UP only once the KafkaSQL journal has been replayed, so an early 200
# with an empty subject list cannot pass for a registry that forgot its schemas.
registry_ready() { # registry_ready CCOMPAT_URL [HEALTH_BASE]
  curl -fsS -o /dev/null --max-time 5 "$1/subjects" 2>/dev/null || return 1
  [[ -z "${2:-}" ]] || curl -fsS -o /dev/null --max-time 5 "$2/health/ready" 2>/dev/null
}

local_registry_healthy() { registry_ready "$LOCAL_REGISTRY_URL" "$LOCAL_REGISTRY_BASE"; }

# Waits until CHECK passes; fails early if the process died, and with the log tail on timeout.
wait_healthy() { # wait_healthy NAME CHECK_FUNCTION
  local name="$1" check="$2" start=$SECONDS next_report=5 pid elapsed
  until "$check"; do
    pid="$(running_pid "$name")"
    elapsed=$((SECONDS - start))
    if [[ -z "$pid" ]]; then
      warn "$name: the process exited during start-up. Last lines of $(log_file "$name"):"
      tail -n 40 "$(log_file "$name")" >&2 || true
      exit 1
    fi
    if ((elapsed >= START_TIMEOUT_S)); then
      warn "$name: not healthy after ${START_TIMEOUT_S}s (pid $pid still running; 'stack.sh down' stops it). Last lines of $(log_file "$name"):"
      tail -n 40 "$(log_file "$name")" >&2 || true
      exit 1
    fi
    if ((elapsed >= next_report)); then
      say "$name: waiting for health... ${elapsed}s"
      next_report=$((elapsed + 5))
    fi
    sleep 1
  done
  say "$name: healthy after $((SECONDS - start))s"
}

# A port held by a process we did not start (a docker Kafka, a stale JVM) would make the new
# process die with a bind error deep in its log; say it plainly instead.
ensure_port_free() { # ensure_port_free NAME PORT HINT
  port_open 127.0.0.1 "$2" || return 0
  die "$1: port $2 is already in use by a process this script did not start. $3"
}

# ---------------------------------------------------------------------------------------------
# Kafka
# ---------------------------------------------------------------------------------------------

kafka_java() { # kafka_java MAIN_CLASS ARGS... - runs a Kafka tool class in the foreground
  "$JAVA_BIN" -cp "$KAFKA_HOME/libs/*" -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.properties" \
    -Dsluice.log.level=warn "$@"
}

# ---------------------------------------------------------------------------------------------
# Kafka nodes: 1..N, each broker and controller. One node keeps the historical names (part "kafka",
# data in $STATE_DIR/kafka) so an existing single-node stack is reused as it is.
# ---------------------------------------------------------------------------------------------

readonly BROKERS_FILE="$STATE_DIR/kafka-brokers"

# The broker count: --brokers / SLUICE_STACK_BROKERS, else what the stack was formatted with, else 1.
# `resolve_broker_count formatted`: the stack's own count whatever was asked (down, status, logs).
resolve_broker_count() {
  local formatted=""
  [[ -f "$BROKERS_FILE" ]] && formatted="$(<"$BROKERS_FILE")"
  [[ "${1:-}" == formatted && -n "$formatted" ]] && BROKER_COUNT="$formatted"
  if [[ -z "$BROKER_COUNT" ]]; then
    BROKER_COUNT="${formatted:-1}"
  elif [[ -n "$formatted" && "$formatted" != "$BROKER_COUNT" ]]; then
    die "kafka: this stack was created with $formatted broker(s), not $BROKER_COUNT; run 'stack.sh reset' first (deletes its data)"
  fi
  [[ "$BROKER_COUNT" =~ ^[1-9][0-9]?$ ]] || die "kafka: --brokers must be a number from 1 to 99, not '$BROKER_COUNT'"
}

node_name() { if ((BROKER_COUNT == 1)); then printf 'kafka'; else printf 'kafka-%d' "$1"; fi; }
node_port() { printf '%d' $((KAFKA_PORT + 2 * ($1 - 1))); }
node_controller_port() { printf '%d' $((KAFKA_CONTROLLER_PORT + 2 * ($1 - 1))); }

# KAFKA_BROKERS for clients: every node.
local_kafka_brokers() {
  local i list=""
  for ((i = 1; i <= BROKER_COUNT; i++)); do list+="${list:+,}localhost:$(node_port "$i")"; done
  printf '%s' "$list"
}

kafka_nodes_healthy() {
  local i
  for ((i = 1; i <= BROKER_COUNT; i++)); do kafka_ready 127.0.0.1 "$(node_port "$i")" || return 1; done
}

# Fills the @NAME@ placeholders of the committed template. The replacement is quoted so that
# bash 5.2's patsub_replacement does not expand "&" in paths.
render_kafka_config() { # render_kafka_config OUT_FILE DATA_DIR NODE
  local line out="$1" data="$2" node="$3" voters="" i replication=1 min_isr=1
  for ((i = 1; i <= BROKER_COUNT; i++)); do voters+="${voters:+,}$i@localhost:$(node_controller_port "$i")"; done
  if ((BROKER_COUNT >= 3)); then replication=3 min_isr=2; fi
  : >"$out"
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line//@NODE_ID@/"$node"}"
    line="${line//@VOTERS@/"$voters"}"
    line="${line//@REPLICATION@/"$replication"}"
    line="${line//@MIN_ISR@/"$min_isr"}"
    line="${line//@KAFKA_PORT@/"$(node_port "$node")"}"
    line="${line//@KAFKA_CONTROLLER_PORT@/"$(node_controller_port "$node")"}"
    line="${line//@KAFKA_DATA_DIR@/"$data"}"
    printf '%s\n' "$line" >>"$out"
  done <"$SCRIPT_DIR/kafka-server.properties"
}

# Writes every node's config; formats the storage on first start, all nodes with one cluster id
# (it then lives in data/meta.properties). A random id per stack keeps a purged stack from meeting
# old clients' state.
prepare_kafka_nodes() {
  local i name dir cluster_id=""
  for ((i = 1; i <= BROKER_COUNT; i++)); do
    name="$(node_name "$i")"
    dir="$STATE_DIR/$name"
    mkdir -p "$dir/data"
    render_kafka_config "$dir/server.properties" "$dir/data" "$i"
    [[ -f "$dir/data/meta.properties" ]] && continue
    [[ -n "$cluster_id" ]] || cluster_id="$(existing_cluster_id)"
    [[ -n "$cluster_id" ]] || cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    say "$name: formatting storage in $dir/data (cluster id $cluster_id)"
    kafka_java kafka.tools.StorageTool format -c "$dir/server.properties" -t "$cluster_id" >/dev/null ||
      die "$name: formatting the storage failed"
  done
  printf '%s\n' "$BROKER_COUNT" >"$BROKERS_FILE"
}

# The cluster id of a node formatted earlier (a node whose data was lost rejoins the same cluster).
existing_cluster_id() {
  local i file
  for ((i = 1; i <= BROKER_COUNT; i++)); do
    file="$STATE_DIR/$(node_name "$i")/data/meta.properties"
    [[ -f "$file" ]] && { sed -n 's/^cluster.id=//p' "$file"; return 0; }
  done
  return 0
}

start_kafka_node() { # start_kafka_node NODE
  local i="$1" name
  name="$(node_name "$i")"
  ensure_port_free "$name" "$(node_port "$i")" "Stop it, set KAFKA_PORT, or export KAFKA_BROKERS=localhost:$(node_port "$i") to use it."
  ensure_port_free "$name" "$(node_controller_port "$i")" "Stop it or set KAFKA_CONTROLLER_PORT."
  say "$name: starting $KAFKA_VERSION on localhost:$(node_port "$i") (controller $(node_controller_port "$i"))"
  # shellcheck disable=SC2086 # heap options are a word list on purpose
  spawn "$name" "$JAVA_BIN" $KAFKA_HEAP_OPTS \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$SCRIPT_DIR/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$STATE_DIR/$name/server.properties"
}

# Health of every node; a node that exits during start-up fails it with its log.
wait_kafka_healthy() {
  local start=$SECONDS next_report=5 i name pid
  until kafka_nodes_healthy; do
    for ((i = 1; i <= BROKER_COUNT; i++)); do
      name="$(node_name "$i")"
      pid="$(running_pid "$name")"
      if [[ -z "$pid" ]]; then
        warn "$name: the process exited during start-up. Last lines of $(log_file "$name"):"
        tail -n 40 "$(log_file "$name")" >&2 || true
        exit 1
      fi
    done
    if ((SECONDS - start >= START_TIMEOUT_S)); then
      warn "kafka: not healthy after ${START_TIMEOUT_S}s ('stack.sh down' stops it). Last lines of the node logs:"
      for ((i = 1; i <= BROKER_COUNT; i++)); do tail -n 20 "$(log_file "$(node_name "$i")")" >&2 || true; done
      exit 1
    fi
    if ((SECONDS - start >= next_report)); then
      say "kafka: waiting for health... $((SECONDS - start))s"
      next_report=$((SECONDS - start + 5))
    fi
    sleep 1
  done
  say "kafka: healthy after $((SECONDS - start))s ($BROKER_COUNT broker(s))"
}

kafka_up() {
  if [[ -n "$KAFKA_EXTERNAL" ]]; then
    say "kafka: using external Kafka at $KAFKA_EXTERNAL (KAFKA_BROKERS is set; nothing installed or started)"
    external_kafka_reachable ||
      die "kafka: external Kafka at $KAFKA_EXTERNAL is not reachable (unset KAFKA_BROKERS to run the local one)"
    return 0
  fi
  local i name pid started=false
  install_kafka
  prepare_kafka_nodes
  # Nodes start together: a node of a cluster only becomes healthy once a quorum of controllers runs.
  for ((i = 1; i <= BROKER_COUNT; i++)); do
    name="$(node_name "$i")"
    pid="$(running_pid "$name")"
    if [[ -n "$pid" ]]; then
      say "$name: already running (pid $pid)"
      continue
    fi
    start_kafka_node "$i"
    started=true
  done
  $started || ! kafka_nodes_healthy || { say "kafka: healthy"; return 0; }
  wait_kafka_healthy
}

# ---------------------------------------------------------------------------------------------
# Schema registry (Apicurio, Confluent-compatible API under /apis/ccompat/v7)
# ---------------------------------------------------------------------------------------------

registry_up() {
  if [[ -n "$REGISTRY_EXTERNAL" ]]; then
    say "registry: using external schema registry at $REGISTRY_EXTERNAL (SCHEMA_REGISTRY_URL is set; nothing installed or started)"
    registry_ready "$REGISTRY_EXTERNAL" ||
      die "registry: $REGISTRY_EXTERNAL/subjects does not answer 200 (unset SCHEMA_REGISTRY_URL to run the local one)"
    return 0
  fi
  local pid
  pid="$(running_pid registry)"
  if [[ -n "$pid" ]]; then
    if local_registry_healthy; then
      say "registry: already running and healthy (pid $pid)"
      return 0
    fi
    say "registry: running (pid $pid) but not healthy yet, waiting"
    wait_healthy registry local_registry_healthy
    return 0
  fi

  install_registry
  ensure_port_free registry "$SCHEMA_REGISTRY_PORT" \
    "Stop it, set SCHEMA_REGISTRY_PORT, or export SCHEMA_REGISTRY_URL=http://localhost:$SCHEMA_REGISTRY_PORT/apis/ccompat/v7 to use it."

  local bootstrap="${KAFKA_EXTERNAL:-$(local_kafka_brokers)}" data="$STATE_DIR/registry" jar
  jar="$(registry_runner_jar "$REGISTRY_HOME")"
  mkdir -p "$data"
  say "registry: starting Apicurio Registry $APICURIO_VERSION on $LOCAL_REGISTRY_BASE (KafkaSQL storage on $bootstrap)"
  # KafkaSQL: the journal topic is the source of truth and the in-memory H2 is rebuilt from it on
  # start, so schemas and their ids survive restarts exactly as long as the Kafka data does.
  # Topic names start with "_" so that test helpers which clear "all non-internal topics" spare
  # them, and carry "sluice" so a shared external Kafka never mixes them with another registry's.
  # "apicurio.kafkasql.topic.<kafka topic config>" is applied when Apicurio creates its topics;
  # without it they get the broker's 7-day retention and the registry would forget old schemas.
  # Deletion is off by default in Apicurio 3; tests need DELETE /subjects/... to clean up.
  # Every test and bench run registers its own subjects: the default cap of 1000 would be reached.
  # shellcheck disable=SC2086 # heap options are a word list on purpose
  spawn registry "$JAVA_BIN" $REGISTRY_HEAP_OPTS -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 \
    -Dquarkus.http.port="$SCHEMA_REGISTRY_PORT" \
    -Dquarkus.http.access-log.enabled=false \
    -Dquarkus.log.console.format='%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n' \
    -Dapicurio.storage.kind=kafkasql \
    -Dapicurio.kafkasql.bootstrap.servers="$bootstrap" \
    -Dapicurio.kafkasql.topic=_sluice-registry-journal \
    -Dapicurio.kafkasql.snapshots.topic=_sluice-registry-snapshots \
    -Dapicurio.events.kafka.topic=_sluice-registry-events \
    -Dapicurio.kafkasql.topic.cleanup.policy=delete \
    -Dapicurio.kafkasql.topic.retention.ms=-1 \
    -Dapicurio.kafkasql.topic.retention.bytes=-1 \
    -Dapicurio.storage.snapshot.location="$data" \
    -Dapicurio.rest.deletion.group.enabled=true \
    -Dapicurio.rest.deletion.artifact.enabled=true \
    -Dapicurio.rest.deletion.artifact-version.enabled=true \
    -Dapicurio.ccompat.max-subjects=100000 \
    -jar "$jar"
  wait_healthy registry local_registry_healthy
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

# up/down/reset are serialised so that two callers (say, two test runners) never both start Kafka.
take_lock() {
  mkdir -p "$STATE_DIR"
  command -v flock >/dev/null 2>&1 || return 0
  exec 9>"$STATE_DIR/.lock"
  flock -n 9 && return 0
  say "waiting for another stack.sh up/down to finish (lock $STATE_DIR/.lock)..."
  flock -w 600 9 || die "another stack.sh still holds $STATE_DIR/.lock after 600s"
}

cmd_up() {
  while (($#)); do
    case "$1" in
      --brokers)
        BROKER_COUNT="${2:-}"
        shift
        ;;
      --brokers=*) BROKER_COUNT="${1#--brokers=}" ;;
      *) die "up: unknown option '$1' (use --brokers N)" ;;
    esac
    shift
  done
  require_tools
  [[ -n "$KAFKA_EXTERNAL" && -n "$REGISTRY_EXTERNAL" ]] || require_java
  take_lock
  resolve_broker_count
  local start=$SECONDS
  kafka_up
  registry_up
  say ""
  say "stack is up ($((SECONDS - start))s). Endpoints:"
  say "KAFKA_BROKERS=${KAFKA_EXTERNAL:-$(local_kafka_brokers)}"
  say "SCHEMA_REGISTRY_URL=${REGISTRY_EXTERNAL:-$LOCAL_REGISTRY_URL}"
}

cmd_down() {
  local purge=false arg
  for arg in "$@"; do
    case "$arg" in
      --purge) purge=true ;;
      *) die "down: unknown option '$arg' (use --purge)" ;;
    esac
  done
  take_lock
  resolve_broker_count formatted
  local i
  # Registry first: it is a Kafka client and would log reconnect errors during Kafka's shutdown.
  if [[ -n "$REGISTRY_EXTERNAL" ]]; then say "registry: external ($REGISTRY_EXTERNAL), not managed"; else stop_part registry; fi
  if [[ -n "$KAFKA_EXTERNAL" ]]; then say "kafka: external ($KAFKA_EXTERNAL), not managed"; else
    for ((i = 1; i <= BROKER_COUNT; i++)); do stop_part "$(node_name "$i")"; done
  fi
  if $purge; then
    # Only the directories this script creates: SLUICE_STACK_DIR may point anywhere.
    rm -rf "$STATE_DIR/kafka" "$STATE_DIR"/kafka-[0-9]* "$BROKERS_FILE" "$STATE_DIR/registry" "$LOG_DIR" "$RUN_DIR"
    say "purged data and logs in $STATE_DIR"
    [[ -z "$KAFKA_EXTERNAL" ]] ||
      say "note: the registry's topics (_sluice-registry-*) live in the external Kafka and were not deleted"
  fi
}

# Prints one status line; returns 0 if healthy.
status_line() { # status_line NAME STATE PID ENDPOINT HEALTHY(true|false)
  printf '%-9s %-9s pid %-8s %-45s %s\n' "$1" "$2" "$3" "$4" "$(if "$5"; then echo healthy; else echo unhealthy; fi)"
  "$5"
}

cmd_status() {
  require_tools
  local ok=0 pid healthy i name
  resolve_broker_count formatted
  if [[ -n "$KAFKA_EXTERNAL" ]]; then
    if external_kafka_reachable; then healthy=true; else healthy=false; fi
    status_line kafka external - "$KAFKA_EXTERNAL" "$healthy" || ok=1
  else
    for ((i = 1; i <= BROKER_COUNT; i++)); do
      name="$(node_name "$i")"
      pid="$(running_pid "$name")"
      if [[ -n "$pid" ]] && kafka_ready 127.0.0.1 "$(node_port "$i")"; then healthy=true; else healthy=false; fi
      status_line "$name" "$([[ -n "$pid" ]] && echo running || echo stopped)" "${pid:--}" "localhost:$(node_port "$i")" "$healthy" || ok=1
    done
  fi
  if [[ -n "$REGISTRY_EXTERNAL" ]]; then
    if registry_ready "$REGISTRY_EXTERNAL"; then healthy=true; else healthy=false; fi
    status_line registry external - "$REGISTRY_EXTERNAL" "$healthy" || ok=1
  else
    pid="$(running_pid registry)"
    if [[ -n "$pid" ]] && local_registry_healthy; then healthy=true; else healthy=false; fi
    status_line registry "$([[ -n "$pid" ]] && echo running || echo stopped)" "${pid:--}" "$LOCAL_REGISTRY_URL" "$healthy" || ok=1
  fi
  return "$ok"
}

cmd_logs() {
  local follow=true lines=200 parts=() files=() part
  while (($#)); do
    case "$1" in
      kafka | kafka-[0-9]* | registry) parts+=("$1") ;;
      --no-follow) follow=false ;;
      -n | --lines)
        [[ "${2:-}" =~ ^[0-9]+$ ]] || die "logs: $1 needs a number"
        lines="$2"
        shift
        ;;
      *) die "logs: unknown argument '$1' (use: logs [kafka|kafka-N|registry] [--no-follow] [-n LINES])" ;;
    esac
    shift
  done
  resolve_broker_count formatted
  local i
  if ((${#parts[@]} == 0)); then
    for ((i = 1; i <= BROKER_COUNT; i++)); do parts+=("$(node_name "$i")"); done
    parts+=(registry)
  fi
  for part in "${parts[@]}"; do
    if [[ "$part" == kafka* && -n "$KAFKA_EXTERNAL" ]] || [[ "$part" == registry && -n "$REGISTRY_EXTERNAL" ]]; then
      say "$part: external, no local log"
    elif [[ -f "$(log_file "$part")" ]]; then
      files+=("$(log_file "$part")")
    else
      say "$part: no log yet ($(log_file "$part"))"
    fi
  done
  ((${#files[@]})) || return 0
  if $follow; then
    exec tail -n "$lines" -F "${files[@]}"
  fi
  tail -n "$lines" "${files[@]}"
}

# SIGKILL of one part, as a crash would end it (fault drills); `up` starts it again.
cmd_kill() { # cmd_kill PART
  local name="${1:-}" pid
  [[ "$name" =~ ^(kafka|kafka-[0-9]+|registry)$ ]] || die "kill: name a part: kafka, kafka-N or registry"
  pid="$(running_pid "$name")"
  [[ -n "$pid" ]] || die "kill: $name is not running"
  kill -KILL "$pid"
  rm -f "$(pid_file "$name")"
  say "$name: killed (pid $pid)"
}

usage() {
  cat <<EOF
usage: $(basename "$0") <command>
  up [--brokers N]         install on first use, start Kafka (N brokers, default 1) and the schema
                           registry, wait until healthy; starts again any part that is down
  down [--purge]           stop them; --purge also deletes their data and logs
  reset                    same as: down --purge
  status                   one line per part; exit 0 only if all are healthy
  logs [PART] [--no-follow] [-n LINES]   PART: kafka (kafka-1..N in a cluster) or registry
  kill PART                SIGKILL one part, as a crash would (fault drills); 'up' starts it again
Data, logs and pids: $STATE_DIR (SLUICE_STACK_DIR); downloads: $CACHE_DIR
EOF
}

main() {
  local cmd="${1:-}"
  (($#)) && shift
  case "$cmd" in
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    reset) cmd_down --purge ;;
    status) cmd_status ;;
    logs) cmd_logs "$@" ;;
    kill) cmd_kill "$@" ;;
    -h | --help | help) usage ;;
    *)
      usage >&2
      exit 64
      ;;
  esac
}

main "$@"
