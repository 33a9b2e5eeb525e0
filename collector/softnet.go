package collector

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The softnet collector exports the per-CPU receive backlog statistics of
// /proc/net/softnet_stat: packets a CPU took off its backlog, packets it
// dropped because the backlog was longer than net.core.netdev_max_backlog,
// and the times its receive softirq ran out of budget with work left.
//
// HostOnly: the kernel keeps one softnet_data per CPU for the whole machine
// and every network namespace's softnet_stat prints those same rows, so
// reading it once per namespace would repeat identical series under every
// netns label and make sums over namespaces wrong.
//
// The file is read through a descriptor held open between scrapes: a read
// at offset 0 makes the kernel print the file afresh (seq_file restarts at
// 0), for 3 us where the open, read and close prometheus/procfs does takes
// 12 us, most of it the path walk through /proc/self. With the parser in
// softnet_parse.go a scrape allocates only its samples (test/bench/scrape.sh
// and BenchmarkSoftnetUpdate; docs/benchmarks.md).
//
// Not exported: column 9, cpu_collision, which the kernel has printed as 0
// for years (the source says "was cpu_collision"); a counter that can never
// move would read as "no problem" rather than "not measured". Columns 14
// and 15 (input and process queue lengths) are the two halves of the
// backlog length that is exported.

func init() {
	Register("softnet", true, HostOnly, func(_ *slog.Logger) (Collector, error) {
		// softnet_stat is the machine's, the same file in every
		// namespace, so the exporter's own /proc/net will do. A /proc
		// that is not there is this collector's blind spot, reported on
		// every scrape, not a reason for the exporter to stop.
		return newSoftnetCollector("/proc"), nil
	})
}

var (
	softnetProcessed = counter("softnet", "processed_packets_total",
		"Packets this CPU handed to the network stack from its receive path (NAPI poll or backlog); a packet can be counted more than once when it passes a virtual device. One series per CPU. softnet_stat column 1.",
		"cpu")
	softnetDropped = counter("softnet", "dropped_packets_total",
		"Packets dropped because this CPU's receive backlog already held net.core.netdev_max_backlog packets (flow-limit drops included). One series per CPU. softnet_stat column 2.",
		"cpu").Reveals(catalog.NICOverflow)
	softnetTimeSqueeze = counter("softnet", "time_squeezes_total",
		"Times this CPU's receive softirq stopped with packets left because it used up net.core.netdev_budget or netdev_budget_usecs. One series per CPU. softnet_stat column 3.",
		"cpu").Reveals(catalog.NICOverflow)
	softnetRPS = counter("softnet", "rps_interrupts_total",
		"Inter-processor interrupts this CPU received to process packets that RPS/RFS steered to it. One series per CPU; absent on kernels that do not print the column. softnet_stat column 10.",
		"cpu")
	softnetFlowLimit = counter("softnet", "flow_limit_packets_total",
		"Packets dropped by the per-flow backlog limit (net.core.flow_limit_cpu_bitmap) so one big flow cannot fill the backlog; also counted in dropped. One series per CPU; absent on kernels that do not print the column. softnet_stat column 11.",
		"cpu").Reveals(catalog.NICOverflow)
	softnetBacklog = gauge("softnet", "backlog_packets",
		"Packets waiting in this CPU's receive backlog (input and process queues) when the file was read. One series per CPU; absent on kernels that do not print the column. softnet_stat column 12.",
		"cpu").Reveals(catalog.NICOverflow)
)

type softnetCollector struct {
	path string

	mu   sync.Mutex // scrapes can overlap; they share f, buf and rows
	f    *os.File   // nil until the first read, and after a failed one
	buf  []byte
	rows []softnetCPU
}

// newSoftnetCollector reads net/softnet_stat under procRoot; tests point it
// at a directory holding a fixture.
func newSoftnetCollector(procRoot string) *softnetCollector {
	return &softnetCollector{path: filepath.Join(procRoot, "net", "softnet_stat"), buf: make([]byte, 4096)}
}

// read returns the parsed rows, valid until the next call; the caller holds mu.
func (c *softnetCollector) read() ([]softnetCPU, error) {
	if c.f == nil {
		f, err := os.Open(c.path)
		if err != nil {
			return nil, err
		}
		c.f = f
	}
	for {
		n, err := c.f.ReadAt(c.buf, 0)
		if err != nil && err != io.EOF {
			// Open afresh next time rather than trust this descriptor.
			c.f.Close()
			c.f = nil
			return nil, err
		}
		if n < len(c.buf) {
			rows, err := parseSoftnet(c.buf[:n], c.rows)
			if err != nil {
				return nil, err
			}
			c.rows = rows
			return rows, nil
		}
		// A full buffer may have cut the file short: 150 bytes a CPU.
		c.buf = make([]byte, 2*len(c.buf))
	}
}

func (c *softnetCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rows, err := c.read()
	if err != nil {
		return err
	}
	return emitSoftnet(t.Name, rows, ch)
}

// emitSoftnet turns parsed rows into samples. It sends nothing and returns
// an error when the rows cannot be a real softnet_stat (no row, or two rows
// for one CPU), since duplicate series would fail the whole scrape.
func emitSoftnet(ns string, rows []softnetCPU, ch chan<- prometheus.Metric) error {
	if len(rows) == 0 {
		return fmt.Errorf("softnet_stat: no CPU rows")
	}
	// Rows come in CPU order, so a repeat is almost always next to its
	// first; the quadratic check costs nothing at real CPU counts and
	// allocates nothing, unlike a set.
	for i := range rows {
		for j := i + 1; j < len(rows); j++ {
			if rows[i].cpu == rows[j].cpu {
				return fmt.Errorf("softnet_stat: CPU %d appears twice", rows[i].cpu)
			}
		}
	}
	for _, s := range rows {
		cpu := strconv.FormatUint(uint64(s.cpu), 10)
		labels := softnetProcessed.NewLabels(ns, cpu) // shared by the CPU's series
		softnetProcessed.EmitWith(ch, float64(s.processed), labels)
		softnetDropped.EmitWith(ch, float64(s.dropped), labels)
		softnetTimeSqueeze.EmitWith(ch, float64(s.squeezed), labels)
		// A column the kernel did not print is zero in the row, not a
		// reading of zero: width says which columns there were.
		if s.width >= 10 {
			softnetRPS.EmitWith(ch, float64(s.rps), labels)
		}
		if s.width >= 11 {
			softnetFlowLimit.EmitWith(ch, float64(s.flowLimit), labels)
		}
		if s.width >= 13 {
			softnetBacklog.EmitWith(ch, float64(s.backlog), labels)
		}
	}
	return nil
}
