package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The conntrack collector shows how full each namespace's connection
// tracking table is and what conntrack did to packets, per CPU: the
// counters that reveal a full table (drop, early_drop) and flows that
// could not be tracked or inserted (invalid, insert_failed), as with a NAT
// mapping that does not match. It asks ctnetlink and falls back to procfs.
//
// What the kernel returns where conntrack is absent or idle:
//   - nf_conntrack not loaded: /sys/module/nf_conntrack is absent, as are the
//     procfs files. The collector reports not_found without asking
//     ctnetlink, because asking would make the kernel load
//     nf_conntrack_netlink and with it nf_conntrack.
//   - nfnetlink compiled out: socket() fails with EPROTONOSUPPORT
//     (not_found, unless procfs answers).
//   - ctnetlink not registered: the request fails with EINVAL (procfs may
//     still answer).
//   - conntrack loaded but no rule of a namespace uses it: the kernel tracks
//     nothing there, and entries and every counter are a true 0, not a
//     blind spot.
//
// The ignore statistic is not exported: Linux no longer counts it (ctnetlink
// leaves the attribute out, procfs prints a constant 0), and it was never a
// sign of loss.

func init() {
	Register("conntrack", true, PerNamespace, func(logger *slog.Logger) (Collector, error) {
		return newConntrackCollector(logger), nil
	})
}

var (
	conntrackEntries = gauge("conntrack", "entries",
		"Connections in the network namespace's conntrack table now (nf_conntrack_count). Counted per namespace. "+
			"0 also where no rule of the namespace uses conntrack: the kernel then tracks nothing there.").
		Reveals(catalog.ConntrackFull)
	conntrackLimit = gauge("conntrack", "entries_limit",
		"Entries a namespace's conntrack table may hold before new connections are dropped (nf_conntrack_max); 0 means no limit. "+
			"On Linux 6.18 one machine-wide value: writable only in the initial namespace, read-only in the others, "+
			"and compared with each namespace's own entry count, so every namespace reports the same limit and fills up on its own.").
		Reveals(catalog.ConntrackFull)

	// Per-CPU statistics; the cpu label has one value per possible CPU.
	conntrackFound = counter("conntrack", "found_total",
		"Lookups that found an existing conntrack entry, per CPU (found). Since Linux 4.10 per-packet lookups are not counted, so ordinary traffic leaves it at 0.", "cpu")
	conntrackInvalid = counter("conntrack", "invalid_total",
		"Packets conntrack could not track (malformed, out of the TCP window, no matching state); they get ctstate INVALID, which rulesets usually drop. Per CPU (invalid).", "cpu").
		Reveals(catalog.NATMismatch)
	conntrackInserted = counter("conntrack", "inserted_total",
		"Entries inserted into the conntrack table through ctnetlink (conntrack -I, conntrackd), per CPU (insert). Entries created by packets are not counted: on Linux 6.18 ordinary connections leave it at 0.", "cpu")
	conntrackInsertFailed = counter("conntrack", "insert_failed_total",
		"New entries that could not be inserted, their packet dropped: a clash with a concurrently inserted entry the kernel could not resolve (NAT races), or a hash chain too long. Per CPU (insert_failed).", "cpu").
		Reveals(catalog.NATMismatch, catalog.ConntrackFull)
	conntrackDropped = counter("conntrack", "dropped_total",
		"Packets dropped because no entry could be allocated for a new flow: the table was full and nothing could be evicted, or memory ran out. Per CPU (drop).", "cpu").
		Reveals(catalog.ConntrackFull, catalog.NATMismatch)
	conntrackEarlyDropped = counter("conntrack", "early_dropped_total",
		"Unconfirmed or unassured entries evicted to make room for new flows because the table was full. Per CPU (early_drop).", "cpu").
		Reveals(catalog.ConntrackFull)
	conntrackErrors = counter("conntrack", "errors_total",
		"Packets rejected by conntrack's protocol checks: bad checksum or header, or an ICMP error about no tracked flow. Per CPU (error; icmp_error in procfs).", "cpu")
	conntrackSearchRestarts = counter("conntrack", "search_restarts_total",
		"Table lookups restarted because an entry moved during the lookup (a resize or a concurrent change). Per CPU (search_restart).", "cpu")
	conntrackClashResolved = counter("conntrack", "clash_resolved_total",
		"Insertion clashes (two CPUs creating the same flow at once, typical for UDP such as DNS) the kernel resolved without a drop. Per CPU (clash_resolve, Linux 5.12).", "cpu")
	conntrackChainTooLong = counter("conntrack", "chain_too_long_total",
		"New entries refused, their packet dropped, because their hash chain exceeded the kernel's length limit (hash flooding or too small a hash table); also counted in insert_failed. Per CPU (chaintoolong, Linux 5.15).", "cpu").
		Reveals(catalog.ConntrackFull)
)

// ctStat indexes the per-CPU statistics netcause exports.
type ctStat int

const (
	ctFound ctStat = iota
	ctInvalid
	ctInsert
	ctInsertFailed
	ctDrop
	ctEarlyDrop
	ctError
	ctSearchRestart
	ctClashResolve
	ctChainTooLong
	ctNumStats
)

// ctStats lists each statistic's metric and its ctnetlink attribute
// (CTA_STATS_*).
var ctStats = [ctNumStats]struct {
	def  *catalog.Def
	attr uint16
}{
	ctFound:         {conntrackFound, 2},
	ctInvalid:       {conntrackInvalid, 4},
	ctInsert:        {conntrackInserted, 8},
	ctInsertFailed:  {conntrackInsertFailed, 9},
	ctDrop:          {conntrackDropped, 10},
	ctEarlyDrop:     {conntrackEarlyDropped, 11},
	ctError:         {conntrackErrors, 12},
	ctSearchRestart: {conntrackSearchRestarts, 13},
	ctClashResolve:  {conntrackClashResolved, 14},
	ctChainTooLong:  {conntrackChainTooLong, 15},
}

// ctStatByAttr maps a CTA_STATS_* attribute to its statistic.
var ctStatByAttr = func() map[uint16]ctStat {
	m := make(map[uint16]ctStat, ctNumStats)
	for i, s := range ctStats {
		m[s.attr] = ctStat(i)
	}
	return m
}()

// ctCPUStats is one CPU's statistics; has says which ones the kernel
// reported (older kernels lack clash_resolve and chain_toolong).
type ctCPUStats struct {
	cpu int
	v   [ctNumStats]uint64
	has [ctNumStats]bool
}

func (s *ctCPUStats) set(i ctStat, v uint64) { s.v[i], s.has[i] = v, true }

// ctSnapshot is what one read of a namespace found.
type ctSnapshot struct {
	entries, limit       uint64
	hasEntries, hasLimit bool
	cpus                 []ctCPUStats
}

type conntrackCollector struct {
	logger   *slog.Logger
	procRoot string // "/proc"; tests point it at fixtures
	sysRoot  string // "/sys"
	// netlink returns the raw ctnetlink replies of the calling thread's
	// namespace, which is the exporter's own when self is set; tests
	// replace it to force the procfs path.
	netlink        func(self bool) (global, perCPU []byte, err error)
	own            ctnetlinkSocket
	fallbackLogged sync.Map // collector.Reason of the netlink error -> struct{}
}

func newConntrackCollector(logger *slog.Logger) *conntrackCollector {
	c := &conntrackCollector{logger: logger, procRoot: "/proc", sysRoot: "/sys", own: ctnetlinkSocket{fd: -1}}
	c.netlink = func(self bool) ([]byte, []byte, error) {
		if self {
			return c.own.read()
		}
		return ctnetlinkRead()
	}
	return c
}

func (c *conntrackCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	if err := c.moduleLoaded(); err != nil {
		return err
	}
	s, nlErr := c.readNetlink(t.Self())
	if nlErr == nil {
		emitConntrack(t.Name, s, ch)
		return nil
	}
	s, procErr := ctProcfsRead(c.procRoot, c.sysRoot)
	emitConntrack(t.Name, s, ch)
	if procErr != nil {
		// The netlink error decides the reason: it is the primary source,
		// and procfs is legitimately absent on many kernels.
		return fmt.Errorf("conntrack: netlink: %w; procfs fallback: %v", nlErr, procErr)
	}
	c.noteFallback(t, nlErr)
	return nil
}

func (c *conntrackCollector) readNetlink(self bool) (ctSnapshot, error) {
	var s ctSnapshot
	global, perCPU, err := c.netlink(self)
	if err != nil {
		return s, err
	}
	g, err := decodeCTStatsGlobal(global)
	if err != nil {
		return s, err
	}
	cpus, err := decodeCTStatsCPU(perCPU)
	if err != nil {
		return s, err
	}
	return ctSnapshot{entries: g.entries, hasEntries: true, limit: g.limit, hasLimit: g.hasLimit, cpus: cpus}, nil
}

// errConntrackNotLoaded is the blind spot of a kernel without nf_conntrack.
var errConntrackNotLoaded = fmt.Errorf("nf_conntrack is not loaded: %w", fs.ErrNotExist)

// moduleLoaded checks /sys/module/nf_conntrack, present when conntrack is
// loaded or built in; on that usual path one stat decides. Without sysfs it
// cannot tell and lets the readers find out.
func (c *conntrackCollector) moduleLoaded() error {
	_, err := os.Stat(filepath.Join(c.sysRoot, "module/nf_conntrack"))
	if !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.sysRoot, "module")); err != nil {
		return nil
	}
	return errConntrackNotLoaded
}

// noteFallback logs, once per kind of netlink failure, that procfs
// answered instead, so the operator knows why (typically a missing
// CAP_NET_ADMIN) while the scrape stays successful.
func (c *conntrackCollector) noteFallback(t netns.Target, nlErr error) {
	reason := Reason(nlErr)
	if _, seen := c.fallbackLogged.LoadOrStore(reason, struct{}{}); seen {
		return
	}
	c.logger.Info("conntrack netlink unavailable, reading procfs instead", "netns", t.Name, "reason", reason, "err", nlErr)
}

func emitConntrack(ns string, s ctSnapshot, ch chan<- prometheus.Metric) {
	if s.hasEntries {
		conntrackEntries.Emit(ch, float64(s.entries), ns)
	}
	if s.hasLimit {
		conntrackLimit.Emit(ch, float64(s.limit), ns)
	}
	for _, cs := range s.cpus {
		// Every per-CPU counter has the labels netns and cpu: one label
		// set per CPU, shared, where building it per series was most of
		// the collector's time and allocations.
		labels := ctStats[0].def.NewLabels(ns, strconv.Itoa(cs.cpu))
		for i, st := range ctStats {
			if cs.has[i] {
				st.def.EmitWith(ch, float64(cs.v[i]), labels)
			}
		}
	}
}
