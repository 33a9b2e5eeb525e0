package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// A namespace's firewall series keep their labels from scrape to scrape, and
// a large firewall has thousands of them: making their label pairs anew on
// every scrape (prometheus.NewConstMetric validates, allocates and sorts
// them) cost more than reading the rules. fwLabelCache makes them once per
// series and fwMetric shares them.

// fwMetric is one sample with label pairs made once for its series. The
// pairs are shared and never changed.
type fwMetric struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   float64
	counter bool
}

func (m *fwMetric) Desc() *prometheus.Desc { return m.desc }

func (m *fwMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	v := m.value
	if m.counter {
		out.Counter = &dto.Counter{Value: &v}
	} else {
		out.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

// fwLabelCache caches the label pairs of one namespace's rule series.
type fwLabelCache struct {
	series map[fwKey]*fwLabelPairs
	infos  map[fwKey]*fwLabelPairs
	gen    uint64
}

type fwLabelPairs struct {
	pairs []*dto.LabelPair
	text  string // info series: the text the pairs carry
	used  uint64
}

func (l *fwLabelCache) begin() {
	l.gen++
	if l.series == nil {
		l.series, l.infos = map[fwKey]*fwLabelPairs{}, map[fwKey]*fwLabelPairs{}
	}
}

// counter returns the pairs of a packets or bytes series, which share their
// label names.
func (l *fwLabelCache) counter(ns string, k fwKey) []*dto.LabelPair {
	p := l.series[k]
	if p == nil {
		p = &fwLabelPairs{pairs: prometheus.MakeLabelPairs(fwPackets.Desc(),
			[]string{ns, k.family, k.table, k.chain, k.verdict, k.backend, k.rule})}
		l.series[k] = p
	}
	p.used = l.gen
	return p.pairs
}

func (l *fwLabelCache) info(ns string, k fwKey, text string) []*dto.LabelPair {
	p := l.infos[k]
	if p == nil || p.text != text {
		p = &fwLabelPairs{text: text, pairs: prometheus.MakeLabelPairs(fwInfo.Desc(),
			[]string{ns, k.family, k.table, k.chain, k.verdict, k.backend, k.rule, text})}
		l.infos[k] = p
	}
	p.used = l.gen
	return p.pairs
}

// end forgets the series the last collection did not have.
func (l *fwLabelCache) end() {
	for k, p := range l.series {
		if p.used != l.gen {
			delete(l.series, k)
		}
	}
	for k, p := range l.infos {
		if p.used != l.gen {
			delete(l.infos, k)
		}
	}
}

// attach gives every rule series of v its shared label pairs.
func (l *fwLabelCache) attach(ns string, v *fwView) {
	l.begin()
	for i := range v.counters {
		v.counters[i].labels = l.counter(ns, v.counters[i].key)
	}
	for i := range v.infos {
		v.infos[i].labels = l.info(ns, v.infos[i].key, v.infos[i].text)
	}
	l.end()
}
