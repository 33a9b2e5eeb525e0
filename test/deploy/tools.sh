#!/bin/sh
# Builds the deploy tests' tools once, at pinned versions, into
# test/deploy/.bin (gitignored) and reuses them while nothing below changes:
#   helm              helm.sh/helm/v3 (go install, pinned)
#   kube-apiserver,   tools/go.mod: k8s.io/kubernetes with its staging
#   kubectl, etcd     modules and go.etcd.io/etcd/server/v3
#   crds/             the Prometheus Operator's ServiceMonitor and
#                     PrometheusRule CRDs, from its Go module
# A cold build takes several minutes (kube-apiserver alone about three on
# two cores); a warm run returns at once.
set -eu

HELM_VERSION=v3.22.0
PROMETHEUS_OPERATOR_VERSION=v0.89.0

here=$(cd "$(dirname "$0")" && pwd)
bin="$here/.bin"
mkdir -p "$bin"

# One build at a time: the tests and deploy/sync.sh may start together.
exec 9>"$bin/.lock"
flock 9

stamp=$( { cat "$0" "$here/tools/go.mod" "$here/tools/go.sum" "$here/tools/etcd/main.go"; go version; } | sha256sum | cut -d' ' -f1)
if [ -f "$bin/.stamp" ] && [ "$(cat "$bin/.stamp")" = "$stamp" ]; then
	for f in helm kube-apiserver kubectl etcd crds/servicemonitors.yaml crds/prometheusrules.yaml; do
		[ -e "$bin/$f" ] || { rm -f "$bin/.stamp"; break; }
	done
	[ -f "$bin/.stamp" ] && exit 0
fi

start=$(date +%s)
echo "test/deploy/tools.sh: building helm, kube-apiserver, kubectl, etcd into $bin (once; several minutes)" >&2
rm -f "$bin/.stamp"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

GOBIN="$bin" go install -trimpath -ldflags="-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
(cd "$here/tools" && go build -trimpath -ldflags='-s -w' -o "$bin/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl ./etcd)

# Outside any module, so no go.mod or go.sum changes.
op=$(cd "${TMPDIR:-/tmp}" && GOFLAGS= go mod download -json \
	"github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" |
	sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$op" ] || { echo "test/deploy/tools.sh: prometheus-operator $PROMETHEUS_OPERATOR_VERSION: no module directory" >&2; exit 1; }
mkdir -p "$bin/crds"
for crd in servicemonitors prometheusrules; do
	cp "$op/example/prometheus-operator-crd/monitoring.coreos.com_$crd.yaml" "$bin/crds/$crd.yaml"
done
chmod -R u+w "$bin/crds"

echo "$stamp" >"$bin/.stamp"
echo "test/deploy/tools.sh: built in $(($(date +%s) - start)) s" >&2
