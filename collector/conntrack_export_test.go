package collector

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
)

// ctToolNames are the names `conntrack -S` (conntrack-tools, through
// libnetfilter_conntrack) prints for the statistics netcause exports: an
// implementation independent of netcause's decoder to check it against.
var ctToolNames = [ctNumStats]string{
	ctFound:         "found",
	ctInvalid:       "invalid",
	ctInsert:        "insert",
	ctInsertFailed:  "insert_failed",
	ctDrop:          "drop",
	ctEarlyDrop:     "early_drop",
	ctError:         "error",
	ctSearchRestart: "search_restart",
	ctClashResolve:  "clash_resolve",
	ctChainTooLong:  "chaintoolong",
}

// ConntrackToolMetrics maps each `conntrack -S` field to the metric that
// exports it.
func ConntrackToolMetrics() map[string]string {
	m := make(map[string]string, ctNumStats)
	for i, name := range ctToolNames {
		m[name] = ctStats[i].def.Name
	}
	return m
}

// ParseConntrackS parses `conntrack -S` output: one line per CPU,
// "cpu=N found=... invalid=... ...". It returns cpu -> field -> value.
func ParseConntrackS(text string) (map[int]map[string]uint64, error) {
	out := map[int]map[string]uint64{}
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		cpuField, ok := strings.CutPrefix(f[0], "cpu=")
		if !ok {
			return nil, fmt.Errorf("line %q does not start with cpu=", line)
		}
		cpu, err := strconv.Atoi(cpuField)
		if err != nil {
			return nil, fmt.Errorf("line %q: %v", line, err)
		}
		vals := map[string]uint64{}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("line %q: field %q has no =", line, kv)
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %q: %v", line, err)
			}
			vals[k] = n
		}
		out[cpu] = vals
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no cpu lines in %q", text)
	}
	return out, nil
}

// ConntrackNetlinkReplies returns the raw ctnetlink replies of the calling
// thread's namespace, for capturing fixtures.
func ConntrackNetlinkReplies() (global, perCPU []byte, err error) { return ctnetlinkRead() }

// NewConntrackCollectorForTest builds a conntrack collector whose procfs
// and sysfs live under procRoot and sysRoot. With netlinkErr non-nil the
// collector does not ask ctnetlink and behaves as if it had failed so.
func NewConntrackCollectorForTest(procRoot, sysRoot string, netlinkErr error) Collector {
	c := newConntrackCollector(slog.New(slog.DiscardHandler))
	c.procRoot, c.sysRoot = procRoot, sysRoot
	if netlinkErr != nil {
		c.netlink = func(bool) ([]byte, []byte, error) { return nil, nil, netlinkErr }
	}
	return c
}

// ReadConntrackNetlink reads and decodes the ctnetlink statistics of the
// calling thread's namespace and returns the error, if any.
func ReadConntrackNetlink() error {
	_, err := newConntrackCollector(slog.New(slog.DiscardHandler)).readNetlink(false)
	return err
}

// SetConntrackUnrepliedLimit changes the entry limit of conntrack
// collectors built afterwards and returns a function that restores it.
func SetConntrackUnrepliedLimit(n int) (restore func()) {
	old := conntrackUnrepliedLimit
	conntrackUnrepliedLimit = n
	return func() { conntrackUnrepliedLimit = old }
}

// ConntrackUnrepliedDumpSize is how many entries the unreplied dump of the
// calling thread's namespace hands over: with the kernel's status filter
// working, only entries without a reply.
func ConntrackUnrepliedDumpSize() (int, error) {
	n := 0
	_, err := ctUnrepliedDump(1<<30, func([]byte) error { n++; return nil })
	return n, err
}
