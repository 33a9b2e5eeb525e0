package nstest

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
)

var flagDefaults sync.Once

// Samples is one scrape: metric name -> series.
type Samples map[string][]Sample

// Sample is one series with its labels.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Scrape runs the named collectors once, in-process, over the exporter's
// own namespace labelled "host" and every named namespace, as
// `netcause_exporter --netns.named` would.
func Scrape(t testing.TB, collectors ...string) Samples {
	t.Helper()
	flagDefaults.Do(func() {
		// kingpin fills flag defaults only when it parses a command line;
		// the test binary never does, so parse an empty one.
		if _, err := kingpin.CommandLine.Parse(nil); err != nil {
			t.Fatalf("flag defaults: %v", err)
		}
	})
	logger := slog.New(slog.DiscardHandler)
	cs, err := collector.Build(logger, collectors...)
	if err != nil {
		t.Fatal(err)
	}
	e := exporter.New(cs, netns.Options{SelfName: "host", Named: true, Max: 1000}, logger)
	mfs, err := exporter.NewRegistry(e).Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	return FromFamilies(mfs)
}

// FromFamilies flattens gathered metric families.
func FromFamilies(mfs []*dto.MetricFamily) Samples {
	out := Samples{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Counter != nil:
				s.Value = m.GetCounter().GetValue()
			case m.Gauge != nil:
				s.Value = m.GetGauge().GetValue()
			case m.Untyped != nil:
				s.Value = m.GetUntyped().GetValue()
			}
			out[mf.GetName()] = append(out[mf.GetName()], s)
		}
	}
	return out
}

// Get returns the value of the one series of name whose labels include
// match, and whether exactly one such series exists.
func (s Samples) Get(name string, match map[string]string) (float64, bool) {
	found := s.Find(name, match)
	if len(found) != 1 {
		return 0, false
	}
	return found[0].Value, true
}

// Find returns every series of name whose labels include match.
func (s Samples) Find(name string, match map[string]string) []Sample {
	var out []Sample
	for _, smp := range s[name] {
		ok := true
		for k, v := range match {
			if smp.Labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, smp)
		}
	}
	return out
}

// Must is Get that fails the test when the series is missing or ambiguous.
func (s Samples) Must(t testing.TB, name string, match map[string]string) float64 {
	t.Helper()
	found := s.Find(name, match)
	if len(found) != 1 {
		t.Fatalf("want exactly one series %s%v, found %d: %v", name, match, len(found), found)
	}
	return found[0].Value
}
