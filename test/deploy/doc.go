// Package deploy keeps netcause's deployment files in step with the rest of
// the tree and proves they install.
//
// deploy/sync.sh (cmd/sync) copies what the deployment is made of from its
// sources: the capability list from README.md into the Helm chart's values
// and the systemd unit, the generated rule files of alerts/ and the dashboard
// JSON of dashboards/ into the chart's files/, and the plain manifests from
// the chart. The tests in this module check that nothing has drifted, lint
// and render the chart, apply it to a real kube-apiserver with server-side
// dry-run, build the image with buildah and run it, and start the exporter
// with exactly the listed capabilities.
//
// This is a module of its own so that its tools (helm, kube-apiserver, etcd,
// kubectl; see tools.sh) and test dependencies stay out of the exporter's
// go.mod and out of `go test ./...` at the top level.
package deploy
