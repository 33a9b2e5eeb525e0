package catalog

import (
	"fmt"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// Labels is a label set built once and shared by every sample that carries
// it, e.g. the 25-odd counters of one interface. prometheus.NewConstMetric
// builds and sorts the pairs again for each sample, which was a third of a
// scrape's time at a thousand interfaces.
type Labels struct {
	names string // the label names joined, to check a Def takes this set
	pairs []*dto.LabelPair
}

// NewLabels pairs names with values, sorted by name as the exposition
// format requires.
func NewLabels(names []string, values ...string) Labels {
	l := Labels{pairs: make([]*dto.LabelPair, len(names))}
	for i, n := range names {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		l.pairs[i] = &dto.LabelPair{Name: proto.String(n), Value: proto.String(v)}
	}
	sort.Slice(l.pairs, func(i, j int) bool { return l.pairs[i].GetName() < l.pairs[j].GetName() })
	l.names = strings.Join(names, "\xff")
	if len(values) != len(names) {
		l.names = "" // never matches: EmitWith reports it
	}
	return l
}

// NewLabels returns a label set for the metric's own label names.
func (d *Def) NewLabels(values ...string) Labels { return NewLabels(d.Labels, values...) }

// EmitWith sends one sample carrying a shared label set, which must have
// been built for the same label names as d's.
func (d *Def) EmitWith(ch chan<- prometheus.Metric, v float64, l Labels) {
	if l.names != d.labelKey {
		ch <- prometheus.NewInvalidMetric(d.desc, fmt.Errorf("label set does not fit %s%v", d.Name, d.Labels))
		return
	}
	ch <- sharedMetric{d: d, v: v, labels: l.pairs}
}

type sharedMetric struct {
	d      *Def
	v      float64
	labels []*dto.LabelPair
}

func (m sharedMetric) Desc() *prometheus.Desc { return m.d.desc }

func (m sharedMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	switch m.d.Type {
	case prometheus.CounterValue:
		out.Counter = &dto.Counter{Value: proto.Float64(m.v)}
	case prometheus.GaugeValue:
		out.Gauge = &dto.Gauge{Value: proto.Float64(m.v)}
	default:
		out.Untyped = &dto.Untyped{Value: proto.Float64(m.v)}
	}
	return nil
}
