package exporter

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/sampler"
)

type fakeLive struct {
	stats  sampler.LiveStats
	closed bool
}

func (f *fakeLive) Snapshot() sampler.LiveStats { return f.stats }
func (f *fakeLive) Err() error                  { return f.stats.Err }
func (f *fakeLive) Close()                      { f.closed = true }

func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func newTestSampler(start func(netns.Target, sampler.LiveConfig) (liveSampler, error)) *Sampler {
	return &Sampler{cfg: sampler.LiveConfig{Tracker: sampler.Config{MaxConnections: 7, SampleRate: 0.5}},
		netns: netns.Options{SelfName: "host"}, logger: slog.New(slog.DiscardHandler),
		targets: map[uint64]*samplerTarget{}, start: start}
}

// A namespace where capture cannot start is a blind spot with its reason;
// the scrape still succeeds otherwise.
func TestSamplerBlindSpot(t *testing.T) {
	s := newTestSampler(func(netns.Target, sampler.LiveConfig) (liveSampler, error) {
		return nil, fmt.Errorf("socket(AF_PACKET): %w", os.ErrPermission)
	})
	mfs := gather(t, s)
	u := mfs["netcause_collector_unavailable"]
	if u == nil || len(u.Metric) != 1 {
		t.Fatalf("no blind spot reported: %v", u)
	}
	labels := map[string]string{}
	for _, l := range u.Metric[0].Label {
		labels[l.GetName()] = l.GetValue()
	}
	if labels["collector"] != "sampler" || labels["netns"] != "host" || labels["reason"] != "permission_denied" {
		t.Errorf("labels %v", labels)
	}
	if v := mfs["netcause_scrape_collector_success"].Metric[0].Gauge.GetValue(); v != 0 {
		t.Errorf("success %v with a blind spot", v)
	}
	if mfs["netcause_peer_connections_total"] != nil {
		t.Error("peer series from a namespace that is not captured")
	}
}

// A capture that stopped is a blind spot, and is restarted after the retry
// interval.
func TestSamplerRestartsStoppedCapture(t *testing.T) {
	stopped := &fakeLive{}
	stopped.stats.Err = fmt.Errorf("poll: %w", os.ErrClosed)
	starts := 0
	s := newTestSampler(func(netns.Target, sampler.LiveConfig) (liveSampler, error) {
		starts++
		if starts == 1 {
			return stopped, nil
		}
		return &fakeLive{}, nil
	})
	mfs := gather(t, s)
	if mfs["netcause_collector_unavailable"] == nil {
		t.Fatal("a stopped capture is not reported")
	}
	for _, st := range s.targets {
		st.lastTry = st.lastTry.Add(-samplerRetryEvery)
	}
	mfs = gather(t, s)
	if starts != 2 || !stopped.closed || mfs["netcause_collector_unavailable"] != nil {
		t.Errorf("starts %d, old capture closed %v, blind spot %v", starts, stopped.closed, mfs["netcause_collector_unavailable"])
	}
}

// Every per-peer series carries netns first, the histograms are valid and
// cumulative, and "other" is among the peers.
func TestSamplerExport(t *testing.T) {
	var stats sampler.LiveStats
	stats.Captured, stats.Connections = 10, 2
	p := sampler.PeerSnapshot{Label: "10.0.2.10", MinMSS: 256}
	p.Stats.Refused[0] = 3
	p.Stats.Handshake[0].Observe(2e6)
	p.Stats.Handshake[0].Observe(20e6)
	p.Stats.ICMP[sampler.ICMPFragNeeded] = 1
	stats.Peers = []sampler.PeerSnapshot{p, {Label: sampler.OtherPeer}}
	fake := &fakeLive{stats: stats}
	s := newTestSampler(func(netns.Target, sampler.LiveConfig) (liveSampler, error) { return fake, nil })
	mfs := gather(t, s)

	for name, mf := range mfs {
		if !strings.HasPrefix(name, "netcause_peer_") && !strings.HasPrefix(name, "netcause_sampler_") {
			continue
		}
		for _, m := range mf.Metric {
			if m.Label[0].GetName() != "netns" && !hasLabel(m, "netns") {
				t.Errorf("%s has no netns label", name)
			}
		}
	}
	for _, d := range catalog.All() {
		if strings.HasPrefix(d.Name, "netcause_peer_") || strings.HasPrefix(d.Name, "netcause_sampler_") {
			if d.Labels[0] != "netns" {
				t.Errorf("%s: first label %s, want netns", d.Name, d.Labels[0])
			}
		}
	}
	hs := find(mfs["netcause_peer_handshake_seconds"], map[string]string{"peer": "10.0.2.10", "role": "client"})
	if hs == nil || hs.Histogram.GetSampleCount() != 2 || hs.Histogram.GetSampleSum() != 0.022 {
		t.Fatalf("handshake histogram %v", hs)
	}
	for _, b := range hs.Histogram.Bucket {
		want := uint64(0)
		switch {
		case b.GetUpperBound() >= 0.025:
			want = 2
		case b.GetUpperBound() >= 0.0025:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if m := find(mfs["netcause_peer_refused_total"], map[string]string{"peer": "10.0.2.10", "role": "client", "netns": "host"}); m == nil || m.Counter.GetValue() != 3 {
		t.Errorf("refused %v", m)
	}
	if m := find(mfs["netcause_peer_icmp_errors_total"], map[string]string{"peer": "10.0.2.10", "kind": "frag_needed"}); m == nil || m.Counter.GetValue() != 1 {
		t.Errorf("icmp %v", m)
	}
	if m := find(mfs["netcause_peer_mss_min_bytes"], map[string]string{"peer": "10.0.2.10"}); m == nil || m.Gauge.GetValue() != 256 {
		t.Errorf("min mss %v", m)
	}
	if find(mfs["netcause_peer_mss_min_bytes"], map[string]string{"peer": "other"}) != nil {
		t.Error("a min MSS for a peer without handshakes")
	}
	if m := find(mfs["netcause_peer_connections_total"], map[string]string{"peer": "other", "role": "server"}); m == nil {
		t.Error("no series for peer=other")
	}
	if m := find(mfs["netcause_sampler_connections_limit"], nil); m == nil || m.Gauge.GetValue() != 7 {
		t.Errorf("connections limit %v", m)
	}
	if m := find(mfs["netcause_sampler_sample_ratio"], nil); m == nil || m.Gauge.GetValue() != 0.5 {
		t.Errorf("sample ratio %v", m)
	}
	if m := find(mfs["netcause_sampler_peers"], nil); m == nil || m.Gauge.GetValue() != 1 {
		t.Errorf("peers %v", m)
	}
	if v := mfs["netcause_scrape_collector_success"].Metric[0].Gauge.GetValue(); v != 1 {
		t.Errorf("success %v", v)
	}
}

func hasLabel(m *dto.Metric, name string) bool {
	for _, l := range m.Label {
		if l.GetName() == name {
			return true
		}
	}
	return false
}

// find returns the one series of mf whose labels include match.
func find(mf *dto.MetricFamily, match map[string]string) *dto.Metric {
	if mf == nil {
		return nil
	}
	var out *dto.Metric
	for _, m := range mf.Metric {
		ok := true
		for k, v := range match {
			found := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			if out != nil {
				return nil // ambiguous
			}
			out = m
		}
	}
	return out
}
