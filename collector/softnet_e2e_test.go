package collector_test

import (
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
)

// softnetRow is one CPU's row of /proc/net/softnet_stat, read by the test's
// own few lines rather than by the collector's parser, the one under test.
type softnetRow struct{ processed, dropped, squeezed float64 }

func softnetRead(t *testing.T) map[string]softnetRow {
	t.Helper()
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]softnetRow{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 13 {
			t.Fatalf("softnet_stat has %d columns; this test needs the CPU index column (13th), printed since Linux 5.x", len(f))
		}
		var v [4]uint64
		for i, col := range []int{0, 1, 2, 12} {
			if v[i], err = strconv.ParseUint(f[col], 16, 32); err != nil {
				t.Fatalf("softnet_stat %q: %v", line, err)
			}
		}
		rows[strconv.FormatUint(v[3], 10)] = softnetRow{float64(v[0]), float64(v[1]), float64(v[2])}
	}
	return rows
}

// softnetTraffic runs one bulk TCP transfer over the loopback of a fresh
// test namespace until stop is called (at most limit). Loopback delivers
// through the per-CPU backlog, and with segmentation offloads off and a
// 1500-byte MTU every ACK releases a burst of segments queued from softirq
// context, which is what fills a short backlog.
func softnetTraffic(t *testing.T, limit time.Duration) (stop func() int64) {
	t.Helper()
	n := nstest.New(t)
	n.Run("ip", "link", "set", "lo", "mtu", "1500")
	n.Run("ethtool", "-K", "lo", "tso", "off", "gso", "off")
	l := n.Listen("tcp", "127.0.0.1:9100")
	deadline := time.Now().Add(limit)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(deadline.Add(5 * time.Second))
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := n.Dial("tcp", "127.0.0.1:9100", 5*time.Second)
	if err != nil {
		t.Fatalf("dial loopback in %s: %v", n.Name, err)
	}
	_ = c.SetWriteDeadline(deadline)
	var stopped atomic.Bool
	var sent atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for !stopped.Load() && time.Now().Before(deadline) {
			k, err := c.Write(buf)
			sent.Add(int64(k))
			if err != nil {
				return
			}
		}
	}()
	var once sync.Once
	stop = func() int64 {
		once.Do(func() {
			stopped.Store(true)
			_ = c.SetWriteDeadline(time.Now())
			wg.Wait()
			c.Close()
		})
		return sent.Load()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// softnetCheckBetween checks every exported per-CPU counter against two
// reads of the file taken before and after the scrape, and that the series
// exist only under netns="host", one per CPU.
func softnetCheckBetween(t *testing.T, s nstest.Samples, before, after map[string]softnetRow) {
	t.Helper()
	for _, m := range []struct {
		name string
		get  func(softnetRow) float64
	}{
		{"netcause_softnet_processed_packets_total", func(r softnetRow) float64 { return r.processed }},
		{"netcause_softnet_dropped_packets_total", func(r softnetRow) float64 { return r.dropped }},
		{"netcause_softnet_time_squeezes_total", func(r softnetRow) float64 { return r.squeezed }},
	} {
		if n := len(s[m.name]); n != len(before) {
			t.Errorf("%s: %d series in all namespaces, want one per CPU (%d)", m.name, n, len(before))
		}
		for cpu, b := range before {
			v := s.Must(t, m.name, map[string]string{"netns": "host", "cpu": cpu})
			if a := after[cpu]; v < m.get(b) || v > m.get(a) {
				t.Errorf("%s{cpu=%s} = %v, not between the reads before (%v) and after (%v)", m.name, cpu, v, m.get(b), m.get(a))
			}
		}
	}
	for name, series := range s {
		if !strings.HasPrefix(name, "netcause_softnet_") {
			continue
		}
		for _, smp := range series {
			if smp.Labels["netns"] != "host" {
				t.Errorf("%s%v outside the host namespace: softnet is per machine", name, smp.Labels)
			}
		}
	}
	if v := s.Must(t, "netcause_scrape_collector_success", map[string]string{"collector": "softnet"}); v != 1 {
		t.Errorf("softnet collector success = %v", v)
	}
}

// While a test namespace exists (so the scrape covers a named namespace)
// and carries traffic, every exported per-CPU counter lies between two
// reads of /proc/net/softnet_stat taken just before and after the scrape.
// The first of them is taken once the counters have moved since an
// earlier read, so the file is seen to be live and a stale or misplaced
// value cannot pass.
func TestSoftnetPerCPUBetweenReads(t *testing.T) {
	stop := softnetTraffic(t, 10*time.Second)
	processed := func(rows map[string]softnetRow) (p float64) {
		for _, r := range rows {
			p += r.processed
		}
		return p
	}
	first := softnetRead(t)
	before := first
	for start := time.Now(); processed(before) == processed(first) && time.Since(start) < 3*time.Second; {
		time.Sleep(5 * time.Millisecond)
		before = softnetRead(t)
	}
	s := nstest.Scrape(t, "softnet")
	after := softnetRead(t)
	t.Logf("%d bytes of loopback traffic; processed %v, then %v before and %v after the scrape", stop(), processed(first), processed(before), processed(after))
	if processed(before) == processed(first) {
		t.Fatal("processed did not move in 3 s of loopback traffic")
	}
	softnetCheckBetween(t, s, before, after)
	if len(s.Find("netcause_softnet_backlog_packets", map[string]string{"netns": "host"})) != len(before) {
		t.Error("backlog gauge missing for some CPU although this kernel prints the column")
	}
}

// With net.core.netdev_max_backlog lowered to 2 for at most 3 seconds, a
// loopback transfer overflows a CPU backlog; the exported dropped counter
// must rise by what the file shows. The sysctl is host-wide: it is
// restored as soon as drops appear, and by t.Cleanup on any failure.
func TestSoftnetDropsWithShortBacklog(t *testing.T) {
	const sysctl = "/proc/sys/net/core/netdev_max_backlog"
	orig, err := os.ReadFile(sysctl)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := strconv.Atoi(strings.TrimSpace(string(orig))); v < 64 {
		t.Fatalf("%s is %d before the test: probably left by a killed run of this test; set it back (the kernel default is 1000)", sysctl, v)
	}
	restore := func() {
		if err := os.WriteFile(sysctl, orig, 0o644); err != nil {
			t.Errorf("restore %s: %v", sysctl, err)
		}
	}
	t.Cleanup(restore)

	sum := func(rows map[string]softnetRow) (d float64) {
		for _, r := range rows {
			d += r.dropped
		}
		return d
	}
	base := sum(softnetRead(t))
	stop := softnetTraffic(t, 10*time.Second)
	if err := os.WriteFile(sysctl, []byte("2"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for time.Since(start) < 3*time.Second && sum(softnetRead(t)) == base {
		time.Sleep(20 * time.Millisecond)
	}
	restore()
	window := time.Since(start)
	stop()

	before := softnetRead(t)
	s := nstest.Scrape(t, "softnet")
	after := softnetRead(t)
	if sum(before) == base {
		t.Fatalf("no softnet drops within %v at netdev_max_backlog=2", window)
	}
	t.Logf("%v drops in a %v window at netdev_max_backlog=2", sum(before)-base, window.Round(time.Millisecond))
	softnetCheckBetween(t, s, before, after)
	var exported float64
	for _, smp := range s.Find("netcause_softnet_dropped_packets_total", map[string]string{"netns": "host"}) {
		exported += smp.Value
	}
	if exported <= base {
		t.Errorf("exported drops %v did not rise above %v", exported, base)
	}
}

// BenchmarkSoftnetUpdate measures one Update of the softnet collector on
// this machine's /proc.
func BenchmarkSoftnetUpdate(b *testing.B) { benchUpdate(b, "softnet", nil) }
