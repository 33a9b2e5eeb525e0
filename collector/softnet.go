package collector

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

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
// prometheus/procfs parses the file: it handles every column layout from
// 9 columns (2.6.23) to this kernel's 15, takes the CPU number from the
// kernel's own index column where it exists (13+ columns) and falls back to
// the row number before that. The row number is the CPU number only when
// every CPU is online; kernels old enough to lack the column are rare.
//
// Not exported: column 9, cpu_collision, which the kernel has printed as 0
// for years (the source says "was cpu_collision"); a counter that can never
// move would read as "no problem" rather than "not measured". Columns 14
// and 15 (input and process queue lengths) are the two halves of the
// backlog length that is exported.

func init() {
	Register("softnet", true, HostOnly, func(_ *slog.Logger) (Collector, error) {
		// Made once: procfs.NewFS stats and statfs's its root, two
		// syscalls a scrape would repeat for nothing. softnet_stat is the
		// machine's, the same file in every namespace, so the shorter
		// /proc/net path will do where the namespaced readers need
		// /proc/thread-self (10 us less per scrape, test/bench/scrape.sh).
		// A /proc that is not there is this collector's blind spot, to
		// report on every scrape, not a reason for the exporter to stop.
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
	fs  procfs.FS
	err error // from procfs.NewFS
}

// newSoftnetCollector reads net/softnet_stat under procRoot; tests point it
// at a directory holding a fixture.
func newSoftnetCollector(procRoot string) softnetCollector {
	fs, err := procfs.NewFS(procRoot)
	return softnetCollector{fs: fs, err: err}
}

func (c softnetCollector) read() ([]procfs.SoftnetStat, error) {
	if c.err != nil {
		return nil, c.err
	}
	return c.fs.NetSoftnetStat()
}

func (c softnetCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	stats, err := c.read()
	if err != nil {
		return err
	}
	return emitSoftnet(t.Name, stats, ch)
}

// emitSoftnet turns parsed rows into samples. It sends nothing and returns
// an error when the rows cannot be a real softnet_stat (no row, or two rows
// for one CPU), since duplicate series would fail the whole scrape.
func emitSoftnet(ns string, stats []procfs.SoftnetStat, ch chan<- prometheus.Metric) error {
	if len(stats) == 0 {
		return fmt.Errorf("softnet_stat: no CPU rows")
	}
	seen := make(map[uint32]bool, len(stats))
	for _, s := range stats {
		if seen[s.Index] {
			return fmt.Errorf("softnet_stat: CPU %d appears twice", s.Index)
		}
		seen[s.Index] = true
	}
	for _, s := range stats {
		cpu := strconv.FormatUint(uint64(s.Index), 10)
		labels := softnetProcessed.NewLabels(ns, cpu) // shared by the CPU's series
		softnetProcessed.EmitWith(ch, float64(s.Processed), labels)
		softnetDropped.EmitWith(ch, float64(s.Dropped), labels)
		softnetTimeSqueeze.EmitWith(ch, float64(s.TimeSqueezed), labels)
		// procfs leaves a column it did not find at zero; Width says
		// which columns the kernel printed.
		if s.Width >= 10 {
			softnetRPS.EmitWith(ch, float64(s.ReceivedRps), labels)
		}
		if s.Width >= 11 {
			softnetFlowLimit.EmitWith(ch, float64(s.FlowLimitCount), labels)
		}
		if s.Width >= 13 {
			softnetBacklog.EmitWith(ch, float64(s.SoftnetBacklogLen), labels)
		}
	}
	return nil
}
