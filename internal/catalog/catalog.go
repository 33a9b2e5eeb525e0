// Package catalog is the single list of every metric netcause exports.
//
// Collectors and the exporter declare their metrics here, once, at package
// initialisation. The list feeds docs/metrics.md's completeness test and the
// checks that every metric an alert rule or dashboard queries exists, so a
// rename cannot silently break an alert.
package catalog

import (
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every metric name.
const Namespace = "netcause"

// Def is one metric: its name, help, type and variable labels.
type Def struct {
	Name   string
	Help   string
	Type   prometheus.ValueType
	Labels []string
	// Causes lists the causes (shared/causes.md, alert label cause) this
	// metric helps reveal; empty for the exporter's self-monitoring.
	Causes []Cause
	// Histogram marks a histogram, emitted with prometheus.NewConstHistogram
	// from Desc(); Type is then unused.
	Histogram bool

	desc     *prometheus.Desc
	labelKey string // Labels joined, to match shared label sets
}

// AsHistogram marks the metric as a histogram.
func (d *Def) AsHistogram() *Def {
	d.Histogram = true
	return d
}

// Cause is a documented cause of lost or late packets, spelled as the alert
// pack's cause label.
type Cause string

// The causes of shared/causes.md, in its order.
const (
	FirewallDrop  Cause = "firewall_drop"  // 1
	NoRoute       Cause = "no_route"       // 2
	PeerDown      Cause = "peer_down"      // 3
	NATMismatch   Cause = "nat_mismatch"   // 4
	Congestion    Cause = "congestion"     // 5
	AppHang       Cause = "app_hang"       // 6
	AppCrash      Cause = "app_crash"      // 7
	ConntrackFull Cause = "conntrack_full" // 8
	MTU           Cause = "mtu"            // 9
	NICOverflow   Cause = "nic_overflow"   // 10
)

// Reveals records which causes the metric helps reveal, for docs/metrics.md.
func (d *Def) Reveals(causes ...Cause) *Def {
	d.Causes = append(d.Causes, causes...)
	return d
}

var (
	mu   sync.Mutex
	defs = map[string]*Def{}
)

// New declares a metric named netcause_<subsystem>_<name>. Declaring the same
// name twice is a programming error and panics at start-up.
func New(subsystem, name string, typ prometheus.ValueType, help string, labels ...string) *Def {
	fq := prometheus.BuildFQName(Namespace, subsystem, name)
	mu.Lock()
	defer mu.Unlock()
	if _, dup := defs[fq]; dup {
		panic("catalog: metric declared twice: " + fq)
	}
	d := &Def{Name: fq, Help: help, Type: typ, Labels: labels,
		desc: prometheus.NewDesc(fq, help, labels, nil), labelKey: strings.Join(labels, "\xff")}
	defs[fq] = d
	return d
}

// Desc returns the metric's descriptor.
func (d *Def) Desc() *prometheus.Desc { return d.desc }

// Metric builds one sample. A label-count mismatch becomes an invalid
// metric, which the HTTP handler reports without failing the scrape.
func (d *Def) Metric(v float64, labelValues ...string) prometheus.Metric {
	m, err := prometheus.NewConstMetric(d.desc, d.Type, v, labelValues...)
	if err != nil {
		return prometheus.NewInvalidMetric(d.desc, err)
	}
	return m
}

// Emit sends one sample on ch.
func (d *Def) Emit(ch chan<- prometheus.Metric, v float64, labelValues ...string) {
	ch <- d.Metric(v, labelValues...)
}

// All returns every declared metric, sorted by name.
func All() []*Def {
	mu.Lock()
	defer mu.Unlock()
	out := make([]*Def, 0, len(defs))
	for _, d := range defs {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TypeName is the exposition-format name of a value type.
func TypeName(t prometheus.ValueType) string {
	switch t {
	case prometheus.CounterValue:
		return "counter"
	case prometheus.GaugeValue:
		return "gauge"
	default:
		return "untyped"
	}
}
