// Package dashboards holds netcause's Grafana dashboards: the JSON files
// beside this file, generated from package boards by dashboards/gen, and
// the Go API that reads them back for tests and the fault-scenario suite:
// every panel's Prometheus queries with the template variables substituted
// (Queries), ready to run against a real Prometheus.
package dashboards
