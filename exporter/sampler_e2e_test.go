package exporter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/netcause/netcause/exporter"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
	"github.com/netcause/netcause/sampler"
)

// The exporter runs a sampler in each target namespace and exports its
// per-peer series under that namespace's netns label, with the peer label
// bounded to K+1 values. Client 10.213.9.1, server 10.213.9.2, and ten
// more client addresses to exceed K.
func TestSamplerExporterE2E(t *testing.T) {
	client, server := nstest.New(t), nstest.New(t)
	nstest.Veth(t, client, "nc9c", "10.213.9.1/24", server, "nc9s", "10.213.9.2/24")
	for i := 10; i < 20; i++ {
		client.Run("ip", "addr", "add", fmt.Sprintf("10.213.9.%d/24", i), "dev", "nc9c")
	}
	// Only these two namespaces (and the exporter's own): a run directory
	// of links to them.
	runDir := t.TempDir()
	for _, ns := range []*nstest.NS{client, server} {
		if err := os.Symlink("/run/netns/"+ns.Name, filepath.Join(runDir, ns.Name)); err != nil {
			t.Fatal(err)
		}
	}
	const k = 3
	smp := exporter.NewSampler(sampler.LiveConfig{
		Tracker: sampler.Config{MaxConnections: 500, SYNTimeout: 2 * time.Second, ResponseTimeout: 2 * time.Second,
			IdleTimeout: time.Minute, ClosedTimeout: 5 * time.Second, SampleRate: 1},
		MaxPeers: k,
	}, netns.Options{SelfName: "host", Named: true, RunDir: runDir, Max: 10}, slog.New(slog.DiscardHandler))
	t.Cleanup(smp.Close)

	server.EchoServer("10.213.9.2:8080")
	for range 3 { // refused
		if _, err := client.Dial("tcp", "10.213.9.2:8081", 2*time.Second); err == nil {
			t.Fatal("connected to a closed port")
		}
	}
	if n := client.EchoTraffic(t, "10.213.9.2:8080", 1, 100, 3*time.Second); n != 1 {
		t.Fatal("echo failed")
	}
	// One connection from each extra address: the server sees 11 peers.
	for i := 10; i < 20; i++ {
		err := client.Target().Do(func() error {
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("10.213.9.%d", i))}, Timeout: 2 * time.Second}
			c, err := d.DialContext(context.Background(), "tcp", "10.213.9.2:8080")
			if err != nil {
				return err
			}
			defer c.Close()
			_, _ = c.Write([]byte("x"))
			_, err = io.ReadFull(c, make([]byte, 1))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(smp)
	var mfs map[string]*dto.MetricFamily
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := reg.Gather()
		if err != nil {
			t.Fatalf("gather: %v", err)
		}
		mfs = map[string]*dto.MetricFamily{}
		for _, mf := range got {
			mfs[mf.GetName()] = mf
		}
		if value(mfs, "netcause_peer_connections_total", map[string]string{"netns": server.Name, "role": "server"}) == 14 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server namespace saw %v connections, want 14 (3 refused, 11 echo)",
				value(mfs, "netcause_peer_connections_total", map[string]string{"netns": server.Name, "role": "server"}))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c := map[string]string{"netns": client.Name, "peer": "10.213.9.2", "role": "client"}
	if v := value(mfs, "netcause_peer_refused_total", c); v != 3 {
		t.Errorf("client: refused %v, want 3", v)
	}
	if v := value(mfs, "netcause_peer_connections_total", c); v != 14 {
		t.Errorf("client: connections %v, want 14", v)
	}
	if v := histCount(mfs, "netcause_peer_handshake_seconds", c); v != 11 {
		t.Errorf("client: %v handshakes timed, want 11", v)
	}
	if v := histCount(mfs, "netcause_peer_response_seconds", c); v != 11 {
		t.Errorf("client: %v responses timed, want 11", v)
	}
	// The server side: at most K peers plus "other", none lost.
	peers := map[string]bool{}
	for _, m := range mfs["netcause_peer_connections_total"].Metric {
		l := labels(m)
		if l["netns"] == server.Name {
			peers[l["peer"]] = true
		}
	}
	if len(peers) > k+1 || !peers[sampler.OtherPeer] {
		t.Errorf("server namespace exports peers %v: want at most %d plus other", peers, k)
	}
	if v := value(mfs, "netcause_scrape_collector_success", map[string]string{"collector": "sampler"}); v != 1 {
		t.Errorf("sampler scrape success %v", v)
	}
	for _, ns := range []string{"host", client.Name, server.Name} {
		if v := value(mfs, "netcause_sampler_connections_limit", map[string]string{"netns": ns}); v != 500 {
			t.Errorf("netns %s: connections limit %v, want 500 (namespace not sampled?)", ns, v)
		}
	}
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.Label {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value sums the series of name matching every label in match.
func value(mfs map[string]*dto.MetricFamily, name string, match map[string]string) float64 {
	var v float64
	for _, m := range matching(mfs, name, match) {
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		}
	}
	return v
}

func histCount(mfs map[string]*dto.MetricFamily, name string, match map[string]string) uint64 {
	var n uint64
	for _, m := range matching(mfs, name, match) {
		n += m.Histogram.GetSampleCount()
	}
	return n
}

func matching(mfs map[string]*dto.MetricFamily, name string, match map[string]string) []*dto.Metric {
	mf := mfs[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.Metric {
		l := labels(m)
		ok := true
		for k, v := range match {
			if l[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}
