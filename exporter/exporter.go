// Package exporter turns the enabled collectors into one Prometheus
// collector: it discovers the target network namespaces on every scrape,
// runs each collector in each of them, and reports per collector how long
// it took, whether it succeeded and what it could not see.
package exporter

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

var (
	scrapeDuration = catalog.New("scrape", "collector_duration_seconds", prometheus.GaugeValue,
		"Time a collector took in this scrape, over all target namespaces.", "collector")
	scrapeSuccess = catalog.New("scrape", "collector_success", prometheus.GaugeValue,
		"1 if the collector read every target namespace in this scrape, 0 if any read failed.", "collector")
	unavailable = catalog.New("collector", "unavailable", prometheus.GaugeValue,
		"1 for each collector and namespace the exporter cannot see in this scrape (a blind spot), by reason: not_found, not_supported, permission_denied or error.",
		"collector", "netns", "reason")
	netnsTargets = catalog.New("netns", "targets", prometheus.GaugeValue,
		"Network namespaces read in this scrape, by how they were found: self, named or process.", "kind")
	netnsSkipped = catalog.New("netns", "skipped", prometheus.GaugeValue,
		"Network namespaces found but not read in this scrape because of --netns.max.")
	netnsUnreadable = catalog.New("netns", "unreadable_processes", prometheus.GaugeValue,
		"Processes whose network namespace could not be inspected in this scrape for lack of permission (CAP_SYS_PTRACE): containers the exporter cannot see.")
	netnsDiscoverySuccess = catalog.New("netns", "discovery_success", prometheus.GaugeValue,
		"1 if namespace discovery worked in this scrape; 0 means only the namespaces found before the error are read.")
)

// Exporter is a prometheus.Collector over every enabled collector and target
// namespace.
type Exporter struct {
	collectors []collector.Enabled
	netns      netns.Options
	logger     *slog.Logger

	mu     sync.Mutex
	failed map[failureKey]string // logged failures, to log each once
}

type failureKey struct{ collector, netns string }

// New returns an Exporter for the given collectors and namespace options.
func New(collectors []collector.Enabled, opts netns.Options, logger *slog.Logger) *Exporter {
	return &Exporter{collectors: collectors, netns: opts, logger: logger, failed: map[failureKey]string{}}
}

// Describe sends nothing: the set of series depends on the namespaces found
// at scrape time, so the exporter is an unchecked collector.
func (e *Exporter) Describe(chan<- *prometheus.Desc) {}

// Collect discovers the namespaces and runs every collector in them, the
// collectors in parallel.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	d, err := netns.Discover(e.netns)
	ok := 1.0
	if err != nil {
		ok = 0
		e.logger.Warn("namespace discovery incomplete", "err", err)
	}
	if len(d.Targets) == 0 {
		// Even a failed discovery must not hide the exporter's own namespace.
		d.Targets = []netns.Target{{Name: e.netns.SelfName, Kind: "self"}}
	}
	netnsDiscoverySuccess.Emit(ch, ok)
	netnsSkipped.Emit(ch, float64(d.Skipped))
	netnsUnreadable.Emit(ch, float64(d.Unreadable))
	kinds := map[string]int{"self": 0, "named": 0, "process": 0}
	for _, t := range d.Targets {
		kinds[t.Kind]++
	}
	for k, n := range kinds {
		netnsTargets.Emit(ch, float64(n), k)
	}

	var wg sync.WaitGroup
	for _, c := range e.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.run(c, d.Targets, ch)
		}()
	}
	wg.Wait()
	e.forgetGone(d.Targets)
}

func (e *Exporter) run(c collector.Enabled, targets []netns.Target, ch chan<- prometheus.Metric) {
	start := time.Now()
	success := 1.0
	for _, t := range targets {
		if c.Scope == collector.HostOnly && !t.Self() {
			continue
		}
		err := t.Do(func() error { return c.Collector.Update(t, ch) })
		if err != nil && vanished(t) {
			// A container that exited during the scrape is not a blind spot.
			continue
		}
		e.record(c.Name, t.Name, err)
		if err != nil {
			success = 0
			unavailable.Emit(ch, 1, c.Name, t.Name, collector.Reason(err))
		}
	}
	scrapeDuration.Emit(ch, time.Since(start).Seconds(), c.Name)
	scrapeSuccess.Emit(ch, success, c.Name)
}

func vanished(t netns.Target) bool {
	if t.Self() {
		return false
	}
	_, err := os.Stat(t.Path)
	return errors.Is(err, fs.ErrNotExist)
}

// record logs a failure the first time it happens for a collector and
// namespace (and again if its reason changes), and logs the recovery.
func (e *Exporter) record(coll, ns string, err error) {
	k := failureKey{coll, ns}
	e.mu.Lock()
	defer e.mu.Unlock()
	prev, failing := e.failed[k]
	if err == nil {
		if failing {
			delete(e.failed, k)
			e.logger.Info("collector recovered", "collector", coll, "netns", ns)
		}
		return
	}
	reason := collector.Reason(err)
	if failing && prev == reason {
		return
	}
	e.failed[k] = reason
	e.logger.Warn("collector cannot read namespace; reported as netcause_collector_unavailable until it can",
		"collector", coll, "netns", ns, "reason", reason, "err", err)
}

// forgetGone drops remembered failures of namespaces that no longer exist,
// so the map stays as bounded as the target list.
func (e *Exporter) forgetGone(targets []netns.Target) {
	live := make(map[string]bool, len(targets))
	for _, t := range targets {
		live[t.Name] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.failed {
		if !live[k.netns] {
			delete(e.failed, k)
		}
	}
}
