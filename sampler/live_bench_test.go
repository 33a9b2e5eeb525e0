package sampler_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/nstest"
	"github.com/netcause/netcause/sampler"
	"github.com/netcause/netcause/sampler/synth"
)

// Live benchmarks run one experiment each, whatever b.N: run them with
// -benchtime=1x (see docs/benchmarks.md).

func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLiveReplay replays a synthetic capture into a veth at 100,000
// packets/s with tcpreplay and measures the sampler capturing at the other
// end: CPU per captured packet, share of a core, kernel drops.
func BenchmarkLiveReplay(b *testing.B) {
	const pps, packets = 100000, 1000000
	if _, err := exec.LookPath("tcpreplay"); err != nil {
		b.Fatal("tcpreplay not installed; `make test` installs it (apt-get install tcpreplay)")
	}
	file := filepath.Join(b.TempDir(), "replay.pcap")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := synth.Write(w, synth.Options{Packets: packets, Seed: 2}); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()

	sender, sink := nstest.New(b), nstest.New(b)
	nstest.Veth(b, sender, "nc10a", "10.213.10.1/24", sink, "nc10b", "10.213.10.2/24")
	cfg := sampler.LiveConfig{Tracker: sampler.Config{MaxConnections: sampler.DefaultMaxConnections,
		SYNTimeout: sampler.DefaultSYNTimeout, ResponseTimeout: sampler.DefaultResponseTimeout,
		IdleTimeout: sampler.DefaultIdleTimeout, SampleRate: 1}}
	l, err := sampler.StartLive(sink.Target(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Collect the generator's garbage now, not while measuring.
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(200 * time.Millisecond)
	before := l.Snapshot()
	b.ResetTimer()
	cpu0, t0 := processCPU(b), time.Now()
	out, err := sender.RunErr("tcpreplay", "-q", "-i", "nc10a", "--pps="+strconv.Itoa(pps), file)
	if err != nil {
		b.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	time.Sleep(300 * time.Millisecond) // the last block reaches the sampler
	wall, cpu := time.Since(t0), processCPU(b)-cpu0
	b.StopTimer()
	s := l.Snapshot()
	captured := s.Captured - before.Captured
	if captured == 0 {
		b.Fatal("nothing captured")
	}
	thread := s.CPU - before.CPU
	b.ReportMetric(float64(thread.Nanoseconds())/float64(captured), "cpu-ns/pkt")
	b.ReportMetric(100*thread.Seconds()/wall.Seconds(), "%core")
	// The whole test process, Go runtime included.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(captured), "process-cpu-ns/pkt")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "process-%core")
	b.ReportMetric(float64(captured)/wall.Seconds(), "captured-pkts/s")
	b.ReportMetric(float64(s.KernelDrops-before.KernelDrops), "kernel-drops")
	b.ReportMetric(float64(captured), "captured")
	if s.Err != nil {
		b.Fatal(s.Err)
	}
}

func rssKB(b *testing.B, field string) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// BenchmarkLiveSYNFlood floods a listening namespace with SYNs from random
// source addresses (hping3, bounded to 10 s) and reports the sampler's
// peak memory, the connections it tracks against its cap, and its peer
// series against K+1.
func BenchmarkLiveSYNFlood(b *testing.B) {
	if _, err := exec.LookPath("hping3"); err != nil {
		b.Fatal("hping3 not installed; `make test` installs it (apt-get install hping3)")
	}
	attacker, target := nstest.New(b), nstest.New(b)
	nstest.Veth(b, attacker, "nc11a", "10.213.11.1/24", target, "nc11b", "10.213.11.2/24")
	target.Run("ip", "route", "add", "default", "via", "10.213.11.1")
	target.EchoServer("10.213.11.2:8080")
	cfg := sampler.LiveConfig{Tracker: sampler.Config{MaxConnections: sampler.DefaultMaxConnections,
		SYNTimeout: sampler.DefaultSYNTimeout, ResponseTimeout: sampler.DefaultResponseTimeout,
		IdleTimeout: sampler.DefaultIdleTimeout, ClosedTimeout: sampler.DefaultClosedTimeout, SampleRate: 1},
		MaxPeers: sampler.DefaultMaxPeers}
	l, err := sampler.StartLive(target.Target(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	rss0 := rssKB(b, "VmRSS")
	b.ResetTimer()
	done := make(chan error, 1)
	go func() {
		_, err := attacker.RunErr("timeout", "10", "hping3", "-q", "-S", "-p", "8080", "--flood", "--rand-source", "10.213.11.2")
		done <- err
	}()
	peak, maxConns, maxPeers := 0, 0, 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case <-done:
			break loop
		case <-tick.C:
			peak = max(peak, rssKB(b, "VmRSS"))
			s := l.Snapshot()
			maxConns = max(maxConns, s.Connections)
			maxPeers = max(maxPeers, len(s.Peers))
		}
	}
	b.StopTimer()
	s := l.Snapshot()
	peak = max(peak, rssKB(b, "VmHWM"))
	b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
	b.ReportMetric(float64(rss0)/1024, "start-rss-MB")
	b.ReportMetric(float64(s.Tracker.Connections), "connections-seen")
	b.ReportMetric(float64(maxConns), "max-tracked")
	b.ReportMetric(float64(s.Tracker.Evicted), "evicted")
	b.ReportMetric(float64(maxPeers), "max-peer-series")
	b.ReportMetric(float64(s.KernelDrops), "kernel-drops")
	if maxConns > cfg.Tracker.MaxConnections || maxPeers > cfg.MaxPeers+1 {
		b.Errorf("cap broken: %d connections tracked (cap %d), %d peer series (K+1 = %d)",
			maxConns, cfg.Tracker.MaxConnections, maxPeers, cfg.MaxPeers+1)
	}
}
