package collector

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The route_cache collector reads /proc/net/stat/rt_cache, the IPv4 input
// route lookup statistics. The route cache is long gone, but Linux 6.18
// still counts, per CPU, the received packets whose route lookup failed.
// Measured on 6.18 with a forwarding namespace: in_no_route grows by one
// per packet forwarded into a blackhole or unreachable route (which
// InNoRoutes does not count) and per packet with no route at all;
// in_martian_src grows by one per packet a reverse-path filter drops.
// in_martian_dst stayed 0 for packets to 0.0.0.0/8 and is not exported.
//
// HostOnly: the statistics are one per-CPU set for the whole machine;
// every namespace's file prints the same rows, so the series carry the
// exporter's own netns label and count every namespace together.
//
// The values are 32-bit per CPU and wrap; one series per CPU keeps a wrap
// a plain counter reset, where a sum would drop by 2^32 and read as one.

func init() {
	Register("route_cache", true, HostOnly, func(*slog.Logger) (Collector, error) {
		return routeCacheCollector{procRoot: "/proc", sysRoot: "/sys"}, nil
	})
}

var (
	routeInputNoRoute = counter("route", "input_no_route_total",
		"Received IPv4 packets whose input route lookup found no usable route, all network namespaces of the machine together, per CPU: "+
			"no route (also counted in netcause_ip_in_no_routes_total), a blackhole, unreachable or prohibit route (counted nowhere else), "+
			"or a packet for another address where forwarding is off. 32-bit per CPU: wraps. /proc/net/stat/rt_cache in_no_route.",
		"cpu").Reveals(catalog.NoRoute)
	routeInputMartianSrc = counter("route", "input_martian_source_total",
		"Received IPv4 packets dropped for their source address, all network namespaces of the machine together, per CPU: "+
			"reverse-path filtering (rp_filter) found the source reachable through another interface (asymmetric routing), "+
			"or the source is impossible (loopback, multicast, 0.0.0.0/8 from the wire). 32-bit per CPU: wraps. /proc/net/stat/rt_cache in_martian_src.",
		"cpu").Reveals(catalog.NoRoute, catalog.NATMismatch)
)

type routeCacheCollector struct{ procRoot, sysRoot string }

func (c routeCacheCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	cpuIDs, _ := readCTPossibleCPUs(c.sysRoot) // absent: rows are numbered 0, 1, ...
	rows, err := readParsed(filepath.Join(c.procRoot, "thread-self/net/stat/rt_cache"),
		func(r io.Reader) ([]rtCacheRow, error) { return parseRTCache(r, cpuIDs) })
	if err != nil {
		return err
	}
	emitRTCache(t.Name, rows, ch)
	return nil
}

// rtCacheRow is one CPU's counters netcause exports.
type rtCacheRow struct {
	cpu                 int
	noRoute, martianSrc uint64
}

// parseRTCache parses /proc/net/stat/rt_cache: a header of column names,
// then one row of hexadecimal values per possible CPU, without a CPU
// number; cpuIDs (the possible-CPU list) names the rows when it has one
// entry per row, else they are numbered from 0. Columns are found by name,
// so a kernel that adds or drops one does not shift them.
func parseRTCache(r io.Reader, cpuIDs []int) ([]rtCacheRow, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("empty file")
	}
	header := strings.Fields(sc.Text())
	noRouteCol, martianCol := -1, -1
	for i, name := range header {
		switch name {
		case "in_no_route":
			noRouteCol = i
		case "in_martian_src":
			martianCol = i
		}
	}
	if noRouteCol < 0 || martianCol < 0 {
		return nil, fmt.Errorf("header lacks in_no_route or in_martian_src: %.80q", sc.Text())
	}
	var rows []rtCacheRow
	for line := 2; sc.Scan(); line++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) != len(header) {
			return nil, fmt.Errorf("line %d: %d values for %d columns", line, len(f), len(header))
		}
		if len(rows) == ctMaxCPUs {
			return nil, fmt.Errorf("more than %d CPU rows", ctMaxCPUs)
		}
		row := rtCacheRow{cpu: len(rows)}
		for _, c := range []struct {
			col int
			dst *uint64
		}{{noRouteCol, &row.noRoute}, {martianCol, &row.martianSrc}} {
			v, err := strconv.ParseUint(f[c.col], 16, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: column %s: not hexadecimal: %.20q", line, header[c.col], f[c.col])
			}
			*c.dst = v
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no CPU rows")
	}
	if len(cpuIDs) == len(rows) && distinct(cpuIDs) {
		for i := range rows {
			rows[i].cpu = cpuIDs[i]
		}
	}
	return rows, nil
}

// distinct reports whether no CPU number repeats: naming two rows after
// one CPU would make duplicate series, which fail the whole scrape.
func distinct(ids []int) bool {
	seen := make(map[int]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

func emitRTCache(ns string, rows []rtCacheRow, ch chan<- prometheus.Metric) {
	for _, r := range rows {
		cpu := strconv.Itoa(r.cpu)
		routeInputNoRoute.Emit(ch, float64(r.noRoute), ns, cpu)
		routeInputMartianSrc.Emit(ch, float64(r.martianSrc), ns, cpu)
	}
}
