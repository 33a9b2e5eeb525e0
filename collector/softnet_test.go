package collector

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/procfs"
)

// softnetFixture places a softnet_stat fixture where newSoftnetCollector looks for
// it (ROOT/net/softnet_stat) and returns ROOT.
func softnetFixture(t testing.TB, dir string, content []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net", "softnet_stat"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readSoftnetFixture reads a fixture through the collector's own reader.
func readSoftnetFixture(t *testing.T, name string) ([]softnetCPU, error) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/softnet", name))
	if err != nil {
		t.Fatal(err)
	}
	c := newSoftnetCollector(softnetFixture(t, t.TempDir(), b))
	t.Cleanup(func() {
		if c.f != nil {
			c.f.Close()
		}
	})
	return c.read()
}

// The fixtures follow the kernel's layouts by column count. linux-6.18 is
// this machine's file with the counters set to distinct values, so a column
// read into the wrong metric shows here; the others are the same rows cut
// to older widths, or padded with a column a future kernel might add.
func TestSoftnetFixtures(t *testing.T) {
	type series = map[string]float64
	cpu := func(metric, c string) string {
		return "netcause_softnet_" + metric + `{cpu="` + c + `",netns="fixture"}`
	}
	for _, tc := range []struct {
		file string
		want series
	}{
		{"linux-6.18", series{
			cpu("processed_packets_total", "0"): 625, cpu("processed_packets_total", "1"): 12077,
			cpu("dropped_packets_total", "0"): 17, cpu("dropped_packets_total", "1"): 256,
			cpu("time_squeezes_total", "0"): 5, cpu("time_squeezes_total", "1"): 10,
			cpu("rps_interrupts_total", "0"): 3, cpu("rps_interrupts_total", "1"): 7,
			cpu("flow_limit_packets_total", "0"): 2, cpu("flow_limit_packets_total", "1"): 9,
			cpu("backlog_packets", "0"): 4, cpu("backlog_packets", "1"): 0,
		}},
		// CPU 1 offline: the kernel skips its row and the index column says
		// the second row is CPU 3. Also the largest value a column holds.
		{"linux-5.14-cpu1-offline", series{
			cpu("processed_packets_total", "0"): 123456, cpu("processed_packets_total", "3"): 4294967295,
			cpu("dropped_packets_total", "0"): 1, cpu("dropped_packets_total", "3"): 6,
			cpu("time_squeezes_total", "0"): 2, cpu("time_squeezes_total", "3"): 7,
			cpu("rps_interrupts_total", "0"): 3, cpu("rps_interrupts_total", "3"): 8,
			cpu("flow_limit_packets_total", "0"): 4, cpu("flow_limit_packets_total", "3"): 9,
			cpu("backlog_packets", "0"): 5, cpu("backlog_packets", "3"): 10,
		}},
		// No index column: CPUs are numbered by row; no backlog column.
		{"linux-4.18", series{
			cpu("processed_packets_total", "0"): 10, cpu("processed_packets_total", "1"): 11,
			cpu("dropped_packets_total", "0"): 1, cpu("dropped_packets_total", "1"): 5,
			cpu("time_squeezes_total", "0"): 2, cpu("time_squeezes_total", "1"): 6,
			cpu("rps_interrupts_total", "0"): 3, cpu("rps_interrupts_total", "1"): 7,
			cpu("flow_limit_packets_total", "0"): 4, cpu("flow_limit_packets_total", "1"): 8,
		}},
		{"linux-2.6.39", series{
			cpu("processed_packets_total", "0"): 10, cpu("dropped_packets_total", "0"): 1,
			cpu("time_squeezes_total", "0"): 2, cpu("rps_interrupts_total", "0"): 3,
		}},
		{"linux-2.6.23", series{
			cpu("processed_packets_total", "0"): 10, cpu("dropped_packets_total", "0"): 1,
			cpu("time_squeezes_total", "0"): 2,
		}},
		{"future-16-columns", series{
			cpu("processed_packets_total", "0"): 10, cpu("dropped_packets_total", "0"): 1,
			cpu("time_squeezes_total", "0"): 2, cpu("rps_interrupts_total", "0"): 3,
			cpu("flow_limit_packets_total", "0"): 4, cpu("backlog_packets", "0"): 5,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			stats, err := readSoftnetFixture(t, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var emitErr error
			got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitErr = emitSoftnet("fixture", stats, ch) })
			if emitErr != nil {
				t.Fatal(emitErr)
			}
			for k, want := range tc.want {
				if v, ok := got[k]; !ok {
					t.Errorf("%s missing", k)
				} else if v != want {
					t.Errorf("%s = %v, want %v", k, v, want)
				}
			}
			for k := range got {
				if _, ok := tc.want[k]; !ok {
					t.Errorf("unexpected series %s", k)
				}
			}
		})
	}
}

func TestSoftnetBadInput(t *testing.T) {
	for _, file := range []string{
		"too-few-columns", // fewer than the 9 columns every kernel prints
		"not-hex",
		"over-32-bits", // the kernel prints 32-bit counters
		"duplicate-cpu",
		"empty",
		"garbage",
	} {
		t.Run(file, func(t *testing.T) {
			stats, err := readSoftnetFixture(t, file)
			if err != nil {
				return
			}
			ch := make(chan prometheus.Metric, 6*len(stats)+1)
			if err := emitSoftnet("fixture", stats, ch); err == nil {
				t.Errorf("no error; parsed %+v", stats)
			}
			if len(ch) != 0 {
				t.Errorf("%d samples sent despite the error", len(ch))
			}
		})
	}
}

// FuzzSoftnet runs parseSoftnet and emitSoftnet on arbitrary content: they
// must return an error or well-formed samples, never panic. Where both
// parsers define the input the same way (ASCII, lines bufio.Scanner takes
// whole), the result must equal prometheus/procfs's, the parser
// node_exporter uses, row for row and error for error.
func FuzzSoftnet(f *testing.F) {
	for _, name := range []string{"linux-6.18", "linux-5.14-cpu1-offline", "linux-4.18", "linux-2.6.23", "future-16-columns", "duplicate-cpu", "over-32-bits", "not-hex"} {
		b, err := os.ReadFile(filepath.Join("testdata/softnet", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("0 0 0 0 0 0 0 0 0\n\n0 0 0 0 0 0 0 0 0 0 0 0 0\n"))
	f.Add([]byte("1\t2 3 4 5 6 7 8 9\r\n000000000a FFFFFFFF 0 0 0 0 0 0 0 0 0 0 7"))
	root := f.TempDir()
	fs, err := procfs.NewFS(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		rows, err := parseSoftnet(in, nil)
		if procfsComparable(in) {
			softnetFixture(t, root, in)
			want, wantErr := fs.NetSoftnetStat()
			if (err == nil) != (wantErr == nil) {
				t.Fatalf("error %v, procfs says %v", err, wantErr)
			}
			if err == nil {
				if len(rows) != len(want) {
					t.Fatalf("%d rows, procfs %d", len(rows), len(want))
				}
				for i, w := range want {
					r := rows[i]
					if r.cpu != w.Index || r.width != w.Width || r.processed != w.Processed || r.dropped != w.Dropped ||
						r.squeezed != w.TimeSqueezed || r.rps != w.ReceivedRps || r.flowLimit != w.FlowLimitCount || r.backlog != w.SoftnetBacklogLen {
						t.Fatalf("row %d: %+v, procfs %+v", i, r, w)
					}
				}
			}
		}
		if err != nil {
			return
		}
		ch := make(chan prometheus.Metric, 6*len(rows)+1)
		if err := emitSoftnet("fuzz", rows, ch); err != nil {
			return
		}
		if n := len(ch); n < 3*len(rows) || n > 6*len(rows) {
			t.Fatalf("%d samples for %d CPUs", n, len(rows))
		}
		close(ch)
		for m := range ch {
			if err := m.Write(&dto.Metric{}); err != nil {
				t.Fatalf("invalid sample: %v", err)
			}
		}
	})
}

// procfsComparable reports whether procfs reads in as parseSoftnet does:
// strings.Fields also splits on Unicode spaces, and bufio.Scanner stops
// (silently, in procfs) at a line over 64 KiB.
func procfsComparable(in []byte) bool {
	line := 0
	for _, c := range in {
		if c >= 0x80 {
			return false
		}
		if line++; c == '\n' {
			line = 0
		} else if line >= bufio.MaxScanTokenSize {
			return false
		}
	}
	return true
}

// BenchmarkSoftnetParse measures reading (through the held descriptor),
// parsing and emitting a 64-CPU file in this kernel's layout from a
// temporary directory; the e2e file
// measures the collector on the live /proc.
func BenchmarkSoftnetParse(b *testing.B) {
	var content []byte
	for i := 0; i < 64; i++ {
		content = fmt.Appendf(content, "%08x %08x %08x 00000000 00000000 00000000 00000000 00000000 00000000 %08x %08x %08x %08x %08x 00000000\n",
			1000+i, i, 2*i, 3*i, i/2, i%3, i, i%3)
	}
	c := newSoftnetCollector(softnetFixture(b, b.TempDir(), content))
	ch := make(chan prometheus.Metric, 64*6)
	b.ReportAllocs()
	for b.Loop() {
		stats, err := c.read()
		if err != nil {
			b.Fatal(err)
		}
		if err := emitSoftnet("bench", stats, ch); err != nil {
			b.Fatal(err)
		}
		for len(ch) > 0 {
			<-ch
		}
	}
}
