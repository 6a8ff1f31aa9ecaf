#!/usr/bin/env bash
# Fetches the ClickHouse JDBC driver from Maven Central into .cache/ (git-ignored): the "all" jar of
# com.clickhouse:clickhouse-jdbc (the v2 driver with its dependencies shaded in) and the one
# dependency it leaves out, slf4j-api (with slf4j-nop, so the driver logs nothing). Every jar is
# checked against Maven Central's SHA-1. Compiles JdbcProbe.java against them, and prints the
# classpath to run the probe with. Idempotent: downloads once, recompiles when the probe changed.
# CLICKHOUSE_JDBC_VERSION picks another version published with an -all jar (0.9.x; 0.10 and later
# publish none: resolve those with Maven, the interface serves them the same).
set -euo pipefail
version="${CLICKHOUSE_JDBC_VERSION:-0.9.9}"
slf4j=2.0.7
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="$root/.cache/analysts/jdbc"
mkdir -p "$dir"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir.lock"
  flock 9
fi
sha1() { if command -v sha1sum >/dev/null 2>&1; then sha1sum "$1"; else shasum -a 1 "$1"; fi; }

# fetch <path under maven2/> : downloads into $dir once, verified; prints the local file.
fetch() {
  local url="https://repo1.maven.org/maven2/$1" file="$dir/$(basename "$1")"
  if [ ! -f "$file" ]; then
    curl -fsSL --retry 3 -o "$file.part" "$url"
    local expected actual
    expected="$(curl -fsSL --retry 3 "$url.sha1" | cut -c1-40)"
    actual="$(sha1 "$file.part" | cut -c1-40)"
    if [ "$expected" != "$actual" ]; then
      echo "checksum mismatch for $url: expected $expected, got $actual" >&2
      rm -f "$file.part"
      exit 1
    fi
    mv "$file.part" "$file"
  fi
  echo "$file"
}

cp="$(fetch "com/clickhouse/clickhouse-jdbc/$version/clickhouse-jdbc-$version-all.jar")"
cp="$cp:$(fetch "org/slf4j/slf4j-api/$slf4j/slf4j-api-$slf4j.jar")"
cp="$cp:$(fetch "org/slf4j/slf4j-nop/$slf4j/slf4j-nop-$slf4j.jar")"
classes="$dir/classes-$version"
if [ ! -f "$classes/JdbcProbe.class" ] || [ "$here/JdbcProbe.java" -nt "$classes/JdbcProbe.class" ]; then
  mkdir -p "$classes"
  javac -d "$classes" -cp "$cp" "$here/JdbcProbe.java" >&2
fi
echo "$classes:$cp"
