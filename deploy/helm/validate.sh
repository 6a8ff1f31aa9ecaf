#!/usr/bin/env bash
# Validates the Helm chart without a cluster: `helm lint` and `helm template` with each value set
# in sluice/ci/, then kubeconform -strict on what was rendered, against Kubernetes' JSON schemas
# and the schemas of the two CRDs the chart may use (ServiceMonitor, KEDA ScaledObject).
#
# Everything installs on first use into .cache/ (git-ignored), from registries this machine and
# CI reach: helm and kubeconform built from the Go module proxy (a cold helm build takes minutes,
# later runs reuse the binary); Kubernetes' schemas from PyPI's kubernetes-validate wheel, which
# bundles them per version; the CRDs from the Go modules of prometheus-operator and KEDA.
#
# Usage: validate.sh tools        install, then print HELM=, KUBECONFORM=, SCHEMA_LOCATIONS= lines
#        validate.sh [OUT_DIR]    validate; writes OUT_DIR/<set>.yaml (the rendering) and
#                                 OUT_DIR/<set>.json (kubeconform's report); non-zero on any failure
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
chart="$root/deploy/helm/sluice"
cache="$root/.cache/helm-validate"
bin="$root/.cache/bin"

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VERSION=1.30.0
KUBERNETES_VALIDATE_VERSION=1.37.0
PROMETHEUS_OPERATOR_VERSION=v0.85.0
KEDA_VERSION=v2.21.0

mkdir -p "$cache" "$bin"
# One installer at a time: test processes may ask together (flock is util-linux's).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/install.lock"
  flock 9
fi

# A Go command at a pinned version, built once; the version is part of the binary's name.
go_tool() { # name module version
  local name="$1" module="$2" version="$3" target="$bin/$1-$3"
  if [[ ! -x "$target" ]]; then
    command -v go >/dev/null || { echo "validate: no Go toolchain on PATH to build $name" >&2; exit 1; }
    echo "validate: building $name $version from the Go module proxy (minutes the first time)" >&2
    local tmp
    tmp="$(mktemp -d "$cache/gobin.XXXXXX")"
    CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-buildvcs=false go install -trimpath "$module@$version" >&2
    mv -f "$tmp/$name" "$target"
    rm -rf "$tmp"
  fi
  echo "$target"
}

# Kubernetes' JSON schemas, <dir>/v<version>-local[-strict]/<kind>[-<group>]-<version>.json; they
# refer to _definitions.json beside them, which kubeconform resolves from the file's location.
k8s_schemas() {
  local dir="$cache/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
  if [[ ! -f "$dir/.done" ]]; then
    echo "validate: fetching Kubernetes schemas (PyPI kubernetes-validate $KUBERNETES_VALIDATE_VERSION)" >&2
    local tmp
    tmp="$(mktemp -d "$cache/wheel.XXXXXX")"
    "${PYTHON:-python3}" -m pip download --disable-pip-version-check --no-input -q --no-deps -d "$tmp" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >&2
    rm -rf "$dir" && mkdir -p "$dir"
    # Only the version validated against; the wheel holds a dozen.
    "${PYTHON:-python3}" - "$tmp"/kubernetes_validate-*.whl "$dir" "v$KUBERNETES_VERSION-local" <<'PY'
import os, re, sys, zipfile
wheel, out, prefix = sys.argv[1:]
base = 'kubernetes_validate/kubernetes-json-schema/'
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.startswith(base + prefix) and not n.endswith('/'):
            dest = os.path.join(out, n[len(base):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            # The schemas name themselves and their definitions by kubernetes.io URLs ($id,
            # $ref "/api/_definitions.json#…"); without the $id, the file's own location is the
            # base and the definitions resolve to the file beside it.
            text = z.read(n).decode()
            text = re.sub(r',?\s*"\$id": "https://kubernetes\.io/[^"]*"', '', text)
            text = text.replace('"/api/_definitions.json#', '"_definitions.json#')
            with open(dest, 'w') as f:
                f.write(text)
PY
    rm -rf "$tmp"
    [[ -f "$dir/v$KUBERNETES_VERSION-local-strict/deployment-apps-v1.json" ]] || { echo "validate: no Kubernetes $KUBERNETES_VERSION schemas in the wheel" >&2; exit 1; }
    touch "$dir/.done"
  fi
  echo "$dir"
}

# The CRDs' schemas, from the Go modules that ship their YAML.
crd_schemas() {
  local dir="$cache/crds-$PROMETHEUS_OPERATOR_VERSION-$KEDA_VERSION"
  if [[ ! -f "$dir/.done" ]]; then
    echo "validate: fetching the ServiceMonitor and ScaledObject CRDs (Go modules)" >&2
    local prom keda
    prom="$(cd "$cache" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    keda="$(cd "$cache" && go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    rm -rf "$dir"
    node "$root/deploy/helm/crd-schemas.mjs" "$dir" \
      "$prom/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
      "$keda/config/crd/bases/keda.sh_scaledobjects.yaml" >&2
    touch "$dir/.done"
  fi
  echo "$dir"
}

helm="$(go_tool helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION")"
kubeconform="$(go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION")"
k8s="$(k8s_schemas)"
crds="$(crd_schemas)"
flock -u 9 2>/dev/null || true
locations=("$k8s/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json")

if [[ "${1:-}" == tools ]]; then
  echo "HELM=$helm"
  echo "KUBECONFORM=$kubeconform"
  echo "KUBERNETES_VERSION=$KUBERNETES_VERSION"
  echo "SCHEMA_LOCATIONS=$(IFS='|'; echo "${locations[*]}")"
  exit 0
fi

out="${1:-$(mktemp -d)}"
mkdir -p "$out"
status=0
for values in "$chart"/ci/*-values.yaml; do
  set_name="$(basename "$values" -values.yaml)"
  echo "== $set_name ($values)"
  "$helm" lint --strict "$chart" -f "$values" --kube-version "$KUBERNETES_VERSION" || status=1
  "$helm" template sluice "$chart" -f "$values" --namespace sluice --kube-version "$KUBERNETES_VERSION" >"$out/$set_name.yaml" || { status=1; continue; }
  "$kubeconform" -strict -summary -output json -kubernetes-version "$KUBERNETES_VERSION" \
    -schema-location "${locations[0]}" -schema-location "${locations[1]}" \
    "$out/$set_name.yaml" >"$out/$set_name.json" || status=1
  # The summary line of kubeconform's report: valid, invalid, errors, skipped.
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(JSON.stringify(r.summary)); for (const x of r.resources ?? []) if (x.status !== "statusValid") console.log(x.kind, x.name, x.status, x.msg)' "$out/$set_name.json"
done
echo "renderings and reports in $out"
exit "$status"
