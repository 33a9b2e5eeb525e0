package collector

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/catalog"
	"github.com/netcause/netcause/internal/netns"
)

// The ethtool collector exports what the NIC driver counts beyond the
// kernel's interface statistics (`ethtool -S`): the drop, miss and error
// class of driver statistics, a reason-normalised receive overflow counter
// for the statistics drivers agree on, and ring sizes (`ethtool -g`), so a
// NIC that drops because its ring is small shows both the drops and the
// room to grow the ring.
//
// Series are bounded per device: the stat-include pattern picks counters of
// the drop/miss/error class, and at most
// --collector.ethtool.max-stats-per-device of them (default 64) are
// exported; netcause_ethtool_driver_stats_over_cap says how many were left
// out. Interfaces without driver statistics or ring parameters (lo, veth
// rings, bridges) are skipped for that part without error.

// defaultEthtoolStatInclude selects event counters that mean lost or
// refused packets; gauges and byte/packet totals stay out.
const defaultEthtoolStatInclude = `.*(drop|discard|miss|err|fifo|no_?buf|out_of_buffer|overrun|overflow|timeout|full|busy).*`

var (
	ethtoolDeviceInclude, ethtoolDeviceExclude string
	ethtoolStatInclude                         = defaultEthtoolStatInclude
	ethtoolStatExclude                         string
	ethtoolMaxStats                            = 64
)

func init() {
	kingpin.Flag("collector.ethtool.device-include", "Regexp (anchored) of interfaces the ethtool collector reads; empty reads all.").
		Default(ethtoolDeviceInclude).StringVar(&ethtoolDeviceInclude)
	kingpin.Flag("collector.ethtool.device-exclude", "Regexp (anchored) of interfaces the ethtool collector skips.").
		Default(ethtoolDeviceExclude).StringVar(&ethtoolDeviceExclude)
	kingpin.Flag("collector.ethtool.stat-include", "Regexp (anchored) of driver statistic names (ethtool -S) exported as netcause_ethtool_driver_stat_total; empty exports none (the normalised overflow counters and rings remain).").
		Default(ethtoolStatInclude).StringVar(&ethtoolStatInclude)
	kingpin.Flag("collector.ethtool.stat-exclude", "Regexp (anchored) of driver statistic names not exported, applied after stat-include.").
		Default(ethtoolStatExclude).StringVar(&ethtoolStatExclude)
	kingpin.Flag("collector.ethtool.max-stats-per-device", "At most this many driver statistics per interface are exported, the first in driver order.").
		Default(fmt.Sprint(ethtoolMaxStats)).IntVar(&ethtoolMaxStats)

	Register("ethtool", true, PerNamespace, func(*slog.Logger) (Collector, error) {
		devs, err := newDeviceFilter(ethtoolDeviceInclude, ethtoolDeviceExclude)
		if err != nil {
			return nil, fmt.Errorf("--collector.ethtool.device-include/-exclude: %w", err)
		}
		stats, err := newDeviceFilter(ethtoolStatInclude, ethtoolStatExclude)
		if err != nil {
			return nil, fmt.Errorf("--collector.ethtool.stat-include/-exclude: %w", err)
		}
		if ethtoolMaxStats < 0 {
			return nil, fmt.Errorf("--collector.ethtool.max-stats-per-device must not be negative")
		}
		return &ethtoolCollector{devices: devs, stats: newStatFilter(stats.include, stats.exclude), maxStats: ethtoolMaxStats}, nil
	})
}

var (
	ethtoolDriverStat = counter("ethtool", "driver_stat_total",
		"A driver statistic of the drop/miss/error class as `ethtool -S` shows it, by its driver name (stat). Names follow --collector.ethtool.stat-include; at most --collector.ethtool.max-stats-per-device (default 64) per device.",
		"device", "stat").Reveals(catalog.NICOverflow)
	ethtoolOverCap = gauge("ethtool", "driver_stats_over_cap",
		"Driver statistics of the device that match the include pattern but are not exported because of --collector.ethtool.max-stats-per-device; absent when none.",
		"device")
	netRxOverflow = counter("network", "receive_overflow_total",
		"Receive-side overflow events from driver statistics, normalised across drivers by reason: missed (NIC dropped the packet, FIFO full), no_buffer (no free receive descriptor), fifo (FIFO overrun), queue_drop (driver dropped it on a receive queue, summed over queues). Mapping table in collector/ethtool_parse.go.",
		"device", "reason").Reveals(catalog.NICOverflow)
	netRingEntries = gauge("network", "ring_entries",
		"Current size of a NIC ring in descriptors (`ethtool -g` current), by direction: rx, rx_mini, rx_jumbo, tx.",
		"device", "direction").Reveals(catalog.NICOverflow)
	netRingMaxEntries = gauge("network", "ring_max_entries",
		"Largest size the NIC allows for the ring (`ethtool -g` pre-set maximum); above ring_entries there is room to grow it.",
		"device", "direction").Reveals(catalog.NICOverflow)
)

type ethtoolCollector struct {
	devices  deviceFilter
	stats    *statFilter
	maxStats int
}

func (c *ethtoolCollector) Update(t netns.Target, ch chan<- prometheus.Metric) error {
	links, err := readLinks(true)
	if len(links) == 0 && err != nil {
		return err
	}
	fd, serr := ethtoolSocket()
	if serr != nil {
		return serr
	}
	defer unix.Close(fd)
	var devErrs deviceErrors
	for _, l := range links {
		if c.devices.ignored(l.Name) {
			continue
		}
		devErrs.add(l.Name, c.driverStats(fd, t.Name, l.Name, ch))
		devErrs.add(l.Name, c.rings(fd, t.Name, l.Name, ch))
	}
	return errors.Join(err, devErrs.err())
}

func (c *ethtoolCollector) driverStats(fd int, ns, dev string, ch chan<- prometheus.Metric) error {
	b, err := readSsetInfo(fd, dev)
	if err != nil {
		return fmt.Errorf("ETHTOOL_GSSET_INFO: %w", err)
	}
	n, ok, err := parseSsetInfo(b)
	if err != nil || !ok {
		return err
	}
	if b, err = readStatNames(fd, dev, n); err != nil {
		return fmt.Errorf("ETHTOOL_GSTRINGS: %w", err)
	}
	names, err := parseStatNames(b)
	if err != nil {
		return err
	}
	if b, err = readStatValues(fd, dev, n); err != nil {
		return fmt.Errorf("ETHTOOL_GSTATS: %w", err)
	}
	values, err := parseStatValues(b)
	if err != nil {
		return err
	}
	return emitDriverStats(ns, dev, names, values, c.stats.match, c.maxStats, ch)
}

// emitDriverStats sends the selected and the normalised statistics of one
// device.
func emitDriverStats(ns, dev string, names []string, values []uint64, match func(string) bool, max int, ch chan<- prometheus.Metric) error {
	sel, skipped, err := selectDriverStats(names, values, match, max)
	if err != nil {
		// The driver's statistics changed between the two ioctls
		// (queues reconfigured); the next scrape reads them again.
		return err
	}
	for _, s := range sel {
		ethtoolDriverStat.Emit(ch, float64(s.value), ns, dev, s.name)
	}
	if skipped > 0 {
		ethtoolOverCap.Emit(ch, float64(skipped), ns, dev)
	}
	for reason, v := range normaliseOverflow(names, values) {
		netRxOverflow.Emit(ch, float64(v), ns, dev, reason)
	}
	return nil
}

func (c *ethtoolCollector) rings(fd int, ns, dev string, ch chan<- prometheus.Metric) error {
	b, err := readRingParam(fd, dev)
	if err != nil {
		return fmt.Errorf("ETHTOOL_GRINGPARAM: %w", err)
	}
	r, err := parseRingParam(b)
	if err != nil {
		return err
	}
	emitRings(ns, dev, r, ch)
	return nil
}

func emitRings(ns, dev string, r ringParam, ch chan<- prometheus.Metric) {
	for _, d := range r.rings() {
		netRingEntries.Emit(ch, float64(d.current), ns, dev, d.name)
		netRingMaxEntries.Emit(ch, float64(d.max), ns, dev, d.name)
	}
}

// deviceErrors gathers per-device failures. Not-supported and vanished
// devices are normal and dropped; the rest become one error naming the
// first and counting the others, so a host with a thousand failing devices
// does not log a thousand lines.
type deviceErrors struct {
	first error
	n     int
}

func (d *deviceErrors) add(dev string, err error) {
	if err == nil || ignorableEthtoolErr(err) {
		return
	}
	if d.first == nil {
		d.first = fmt.Errorf("%s: %w", dev, err)
	}
	d.n++
}

func (d *deviceErrors) err() error {
	if d.n > 1 {
		return fmt.Errorf("%w (and %d more interfaces failed)", d.first, d.n-1)
	}
	return d.first
}
