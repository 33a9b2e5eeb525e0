package collector_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/netns"
	"github.com/netcause/netcause/internal/nstest"
)

// benchCollectorUpdate measures one collector's Update over one namespace, the work
// of one scrape of it, and reports the series it sent.
func benchCollectorUpdate(b *testing.B, name string, t netns.Target) {
	b.Helper()
	cs, err := collector.Build(slog.New(slog.DiscardHandler), name)
	if err != nil || len(cs) != 1 {
		b.Fatalf("build %s: %v", name, err)
	}
	c := cs[0].Collector
	ch := make(chan prometheus.Metric, 4096)
	series := 0
	done := make(chan struct{})
	go func() {
		for range ch {
			series++
		}
		close(done)
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := t.Do(func() error { return c.Update(t, ch) }); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(ch)
	<-done
	b.ReportMetric(float64(series)/float64(b.N), "series/op")
}

// benchVethNamespace returns a namespace holding n veth pairs, both ends inside
// it (2n interfaces plus lo), made with one `ip -batch`.
func benchVethNamespace(b *testing.B, n int) *nstest.NS {
	b.Helper()
	ns := nstest.New(b)
	var batch strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&batch, "link add ncb%da type veth peer name ncb%db\nlink set ncb%da up\nlink set ncb%db up\n", i, i, i, i)
	}
	file := filepath.Join(b.TempDir(), "batch")
	if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	ns.Run("ip", "-batch", file)
	return ns
}

// BenchmarkNetdevHost is one netdev scrape of the exporter's own namespace.
func BenchmarkNetdevHost(b *testing.B) {
	benchCollectorUpdate(b, "netdev", netns.Target{Name: "host", Kind: "self"})
}

func BenchmarkNetdevVeths(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			benchCollectorUpdate(b, "netdev", benchVethNamespace(b, n).Target())
		})
	}
}

func BenchmarkEthtoolHost(b *testing.B) {
	benchCollectorUpdate(b, "ethtool", netns.Target{Name: "host", Kind: "self"})
}

func BenchmarkEthtoolVeths(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			benchCollectorUpdate(b, "ethtool", benchVethNamespace(b, n).Target())
		})
	}
}

// BenchmarkNetdevVethPeersElsewhere is one netdev scrape of a namespace
// holding n veths whose peers are in another namespace: besides the dump,
// one RTM_GETLINK per peer for its MTU (netcause_network_peer_mtu_bytes).
// Compare with BenchmarkNetdevVeths, whose peers are in the same namespace
// and come from the dump.
func BenchmarkNetdevVethPeersElsewhere(b *testing.B) {
	for _, n := range []int{100, 500} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			ns, peers := nstest.New(b), nstest.New(b)
			var batch strings.Builder
			for i := 0; i < n; i++ {
				fmt.Fprintf(&batch, "link add ncb%da type veth peer name ncb%db netns %s\nlink set ncb%da up\n", i, i, peers.Name, i)
			}
			file := filepath.Join(b.TempDir(), "batch")
			if err := os.WriteFile(file, []byte(batch.String()), 0o644); err != nil {
				b.Fatal(err)
			}
			ns.Run("ip", "-batch", file)
			benchCollectorUpdate(b, "netdev", ns.Target())
		})
	}
}
