package catalog

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

type emitFunc func(ch chan<- prometheus.Metric)

func (emitFunc) Describe(chan<- *prometheus.Desc)      {}
func (f emitFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

func TestSharedLabels(t *testing.T) {
	a := &Def{Name: "t_a_total", Type: prometheus.CounterValue, Labels: []string{"netns", "device"},
		desc: prometheus.NewDesc("t_a_total", "a", []string{"netns", "device"}, nil), labelKey: "netns\xffdevice"}
	b := &Def{Name: "t_b", Type: prometheus.GaugeValue, Labels: []string{"netns", "device"},
		desc: prometheus.NewDesc("t_b", "b", []string{"netns", "device"}, nil), labelKey: "netns\xffdevice"}
	l := a.NewLabels("host", "eth0")
	c := emitFunc(func(ch chan<- prometheus.Metric) {
		a.EmitWith(ch, 3, l)
		b.EmitWith(ch, 1500, l)
	})
	want := `
# HELP t_a_total a
# TYPE t_a_total counter
t_a_total{device="eth0",netns="host"} 3
# HELP t_b b
# TYPE t_b gauge
t_b{device="eth0",netns="host"} 1500
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestSharedLabelsMismatch(t *testing.T) {
	a := &Def{Name: "t_a", Type: prometheus.GaugeValue, Labels: []string{"netns", "cpu"},
		desc: prometheus.NewDesc("t_a", "a", []string{"netns", "cpu"}, nil), labelKey: "netns\xffcpu"}
	for name, l := range map[string]Labels{
		"other names":  NewLabels([]string{"netns", "device"}, "host", "eth0"),
		"values short": NewLabels([]string{"netns", "cpu"}, "host"),
	} {
		reg := prometheus.NewRegistry()
		reg.MustRegister(emitFunc(func(ch chan<- prometheus.Metric) { a.EmitWith(ch, 1, l) }))
		if _, err := reg.Gather(); err == nil {
			t.Errorf("%s: a label set that does not fit gathered without error", name)
		}
	}
}
