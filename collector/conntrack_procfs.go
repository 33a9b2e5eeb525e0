package collector

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The procfs fallback, for when ctnetlink cannot be asked (no
// CAP_NET_ADMIN, nfnetlink compiled out): /proc/thread-self/net/stat/
// nf_conntrack for the per-CPU statistics (CONFIG_NF_CONNTRACK_PROCFS) and
// the nf_conntrack_count and nf_conntrack_max sysctls, which /proc/sys
// shows for the calling thread's namespace.
//
// prometheus/procfs (v0.23.0) parses the stat file by column position
// with the names of Linux 2.6: on this kernel it would report the clashres
// column as "Searched" and chainlength as "DeleteList", and it has no
// icmp_error. The parser below reads the kernel's own header line instead,
// so it follows the columns of any kernel version.

// ctProcColumns maps stat-file columns to statistics. Columns the kernel
// prints as constant 0 (searched, new, ignore, delete) are not read.
var ctProcColumns = map[string]ctStat{
	"found":          ctFound,
	"invalid":        ctInvalid,
	"insert":         ctInsert,
	"insert_failed":  ctInsertFailed,
	"drop":           ctDrop,
	"early_drop":     ctEarlyDrop,
	"icmp_error":     ctError,
	"search_restart": ctSearchRestart,
	"clashres":       ctClashResolve,
	"chainlength":    ctChainTooLong,
}

// ctProcfsRead reads the procfs view of the calling thread's namespace.
// It returns what it could read and an error naming what it could not;
// the stat file missing while the sysctls exist is a partial result.
func ctProcfsRead(procRoot, sysRoot string) (ctSnapshot, error) {
	var s ctSnapshot
	var errs []error

	cpuIDs, _ := readCTPossibleCPUs(sysRoot) // absent: rows are numbered 0, 1, ...
	stat, err := readParsed(filepath.Join(procRoot, "thread-self/net/stat/nf_conntrack"),
		func(r io.Reader) (ctStatFile, error) { return parseCTProcStat(r, cpuIDs) })
	if err != nil {
		errs = append(errs, err)
	} else {
		s.cpus = stat.cpus
		s.entries, s.hasEntries = stat.entries, stat.hasEntries
	}

	count, err := readCTSysctl(procRoot, "nf_conntrack_count")
	switch {
	case err == nil:
		s.entries, s.hasEntries = count, true
	case !s.hasEntries:
		errs = append(errs, err)
	}

	// The kernel hides nf_conntrack_max in namespaces owned by a user
	// namespace other than the initial one (rootless containers); the limit
	// is then simply not exported from procfs.
	limit, err := readCTSysctl(procRoot, "nf_conntrack_max")
	switch {
	case err == nil:
		s.limit, s.hasLimit = limit, true
	case !errors.Is(err, fs.ErrNotExist):
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// readCTSysctl reads one net.netfilter sysctl of the calling thread's
// namespace.
func readCTSysctl(procRoot, name string) (uint64, error) {
	path := filepath.Join(procRoot, "sys/net/netfilter", name)
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := parseCTSysctl(b)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// readCTPossibleCPUs reads the possible-CPU list, whose order is the order
// of the stat file's rows.
func readCTPossibleCPUs(sysRoot string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(sysRoot, "devices/system/cpu/possible"))
	if err != nil {
		return nil, err
	}
	return parseCTCPUList(string(b))
}

// parseCTSysctl parses a sysctl holding one non-negative integer.
func parseCTSysctl(b []byte) (uint64, error) {
	s := string(bytes.TrimSpace(b))
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a non-negative integer: %.20q", s)
	}
	return v, nil
}

// ctMaxCPUs bounds CPU lists and stat-file rows; Linux's NR_CPUS maximum is
// 8192.
const ctMaxCPUs = 8192

// parseCTCPUList parses a kernel CPU list such as "0-3,8,10-11".
func parseCTCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("empty CPU list")
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %.40q: bad number %.10q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %.40q: bad range %.20q", s, part)
			}
		}
		if b-a >= ctMaxCPUs-len(out) {
			return nil, fmt.Errorf("CPU list %.40q: more than %d CPUs", s, ctMaxCPUs)
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// ctStatFile is the content of /proc/net/stat/nf_conntrack.
type ctStatFile struct {
	entries    uint64
	hasEntries bool
	cpus       []ctCPUStats
}

// parseCTProcStat parses /proc/net/stat/nf_conntrack: a header of column
// names, then one row of hexadecimal values per possible CPU. The rows carry
// no CPU number; cpuIDs (the possible-CPU list) names them when it has one
// entry per row, else the rows are numbered from 0. Every row repeats the
// namespace's entry count in its "entries" column.
func parseCTProcStat(r io.Reader, cpuIDs []int) (ctStatFile, error) {
	var out ctStatFile
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return out, err
		}
		return out, errors.New("empty file")
	}
	header := strings.Fields(sc.Text())
	if len(header) == 0 {
		return out, errors.New("empty header line")
	}
	cols := make([]int, len(header)) // column -> ctStat, or -1
	entriesCol := -1
	for i, name := range header {
		cols[i] = -1
		if st, ok := ctProcColumns[name]; ok {
			cols[i] = int(st)
		}
		if name == "entries" {
			entriesCol = i
		}
	}
	var rows [][]uint64
	for line := 2; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != len(header) {
			return out, fmt.Errorf("line %d: %d values for %d columns", line, len(f), len(header))
		}
		if len(rows) == ctMaxCPUs {
			return out, fmt.Errorf("more than %d CPU rows", ctMaxCPUs)
		}
		row := make([]uint64, len(f))
		for i, v := range f {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return out, fmt.Errorf("line %d: column %s: not hexadecimal: %.20q", line, header[i], v)
			}
			row[i] = n
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	if len(rows) == 0 {
		return out, errors.New("no CPU rows")
	}
	named := len(cpuIDs) == len(rows)
	for r, row := range rows {
		s := ctCPUStats{cpu: r}
		if named {
			s.cpu = cpuIDs[r]
		}
		for i, v := range row {
			if cols[i] >= 0 {
				s.set(ctStat(cols[i]), v)
			}
		}
		out.cpus = append(out.cpus, s)
	}
	if entriesCol >= 0 {
		out.entries, out.hasEntries = rows[0][entriesCol], true
	}
	return out, nil
}
