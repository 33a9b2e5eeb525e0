// Package scenarios is netcause's truth test: every documented cause of
// lost or late packets (../shared/causes.md) reproduced in network
// namespaces, measured by the built netcause_exporter, evaluated by a real
// Prometheus running the alert pack and delivered by a real Alertmanager to
// a webhook inside the test, which decides whether the right cause was
// named in time and nothing else was.
//
// The suite is behind the build tag "scenarios" because it runs for
// minutes and changes machine-wide state briefly (nf_conntrack_max):
//
//	make test-scenarios
//	go test -tags scenarios -count=1 -timeout 30m -v ./test/scenarios/
//
// Each run rewrites docs/scenarios.md. The untagged files hold what needs
// no root: the HTTP server the test binary becomes inside a namespace, the
// verdict logic and the report, with their unit tests.
package scenarios
