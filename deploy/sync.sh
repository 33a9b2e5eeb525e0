#!/bin/sh
# Brings the deployment files up to date with their sources:
#   README.md's capability list -> kubernetes/netcause/values.yaml and
#                                  systemd/netcause_exporter.service
#   rule files of alerts/       -> kubernetes/netcause/files/alerts/
#   dashboards/*.json           -> kubernetes/netcause/files/dashboards/
#   the chart                   -> kubernetes/manifests/ (helm template)
# Run it after changing any of them; `make test-deploy` fails while they
# differ. `deploy/sync.sh -check` only lists what is out of date.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/test/deploy/tools.sh"
cd "$root/test/deploy"
exec go run ./cmd/sync "$@"
