package sampler_test

import (
	"bytes"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/sampler"
	"github.com/netcause/netcause/sampler/synth"
)

// benchCapture is a synthetic capture, generated once per test binary.
var benchCapture = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	if _, err := synth.Write(&b, synth.Options{Packets: 200000, Seed: 1}); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// BenchmarkOffline is the offline analysis per packet: read from a pcap
// in memory (as netcause analyze reads a file it maps), decode, and run the full connection logic (table, sequence
// analysis, handshake and response timing, per-connection records). One
// op is one packet.
func BenchmarkOffline(b *testing.B) {
	file := benchCapture()
	dec := sampler.NewDecoder()
	records := make([]sampler.ConnRecord, 0, 1<<16)
	tr := sampler.NewTracker(sampler.Config{
		MaxConnections:  1 << 20,
		ResponseTimeout: 5 * time.Second,
		OnEnd:           func(r *sampler.ConnRecord) { records = append(records, *r) },
	})
	open := func() *sampler.Source {
		s, err := sampler.NewSourceBytes(file)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	src := open()
	var p sampler.Packet
	// CPU time of this thread, not wall time: on a shared machine the
	// wall clock also counts time other processes ran.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := threadCPU(b)
	for i := 0; i < b.N; i++ {
		data, ts, lt, err := src.Next()
		if err == io.EOF {
			tr.Flush()
			records = records[:0]
			src = open()
			data, ts, lt, err = src.Next()
		}
		if err != nil {
			b.Fatal(err)
		}
		if dec.Decode(data, lt, &p) != nil || p.Kind == sampler.KindOther {
			continue
		}
		p.TS = ts
		tr.Handle(&p, false)
	}
	cpu := threadCPU(b) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "pkts/s/core")
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_THREAD, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
