package collector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// maxDriverStats bounds what one device may claim to have: the largest
// drivers export a few thousand statistics (per-queue counters on 256
// queues); more than this is a corrupt reply, not a NIC.
const maxDriverStats = 1 << 16

// parseSsetInfo decodes an ETHTOOL_GSSET_INFO reply for ETH_SS_STATS into
// the number of driver statistics. ok is false when the driver has none:
// the kernel then clears the set's bit in the mask.
func parseSsetInfo(b []byte) (n int, ok bool, err error) {
	if len(b) < ssetInfoLen {
		return 0, false, fmt.Errorf("ETHTOOL_GSSET_INFO reply is %d bytes, want %d", len(b), ssetInfoLen)
	}
	if binary.NativeEndian.Uint64(b[8:])&(1<<ethSSStats) == 0 {
		return 0, false, nil
	}
	c := binary.NativeEndian.Uint32(b[16:])
	if c > maxDriverStats {
		return 0, false, fmt.Errorf("ETHTOOL_GSSET_INFO claims %d statistics, more than %d", c, maxDriverStats)
	}
	return int(c), c > 0, nil
}

// parseStatNames decodes an ETHTOOL_GSTRINGS reply: a count, then that many
// NUL-padded 32-byte names.
func parseStatNames(b []byte) ([]string, error) {
	if len(b) < gstringsHdr {
		return nil, fmt.Errorf("ETHTOOL_GSTRINGS reply is %d bytes, shorter than its header", len(b))
	}
	n := binary.NativeEndian.Uint32(b[8:])
	if n > maxDriverStats || gstringsHdr+int(n)*ethGStringLen > len(b) {
		return nil, fmt.Errorf("ETHTOOL_GSTRINGS reply claims %d names, buffer holds %d", n, (len(b)-gstringsHdr)/ethGStringLen)
	}
	names := make([]string, n)
	for i := range names {
		raw := b[gstringsHdr+i*ethGStringLen : gstringsHdr+(i+1)*ethGStringLen]
		if j := bytes.IndexByte(raw, 0); j >= 0 {
			raw = raw[:j]
		}
		names[i] = strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return names, nil
}

// parseStatValues decodes an ETHTOOL_GSTATS reply: a count, then that many
// u64 values.
func parseStatValues(b []byte) ([]uint64, error) {
	if len(b) < gstatsHdr {
		return nil, fmt.Errorf("ETHTOOL_GSTATS reply is %d bytes, shorter than its header", len(b))
	}
	n := binary.NativeEndian.Uint32(b[4:])
	if n > maxDriverStats || gstatsHdr+int(n)*8 > len(b) {
		return nil, fmt.Errorf("ETHTOOL_GSTATS reply claims %d values, buffer holds %d", n, (len(b)-gstatsHdr)/8)
	}
	vals := make([]uint64, n)
	for i := range vals {
		vals[i] = binary.NativeEndian.Uint64(b[gstatsHdr+i*8:])
	}
	return vals, nil
}

// ringParam is struct ethtool_ringparam: maximum and current entries per
// ring. Mini and jumbo rings exist on few NICs; 0 means none.
type ringParam struct {
	RxMax, RxMiniMax, RxJumboMax, TxMax uint32
	Rx, RxMini, RxJumbo, Tx             uint32
}

// parseRingParam decodes an ETHTOOL_GRINGPARAM reply.
func parseRingParam(b []byte) (ringParam, error) {
	if len(b) < ringParamLen {
		return ringParam{}, fmt.Errorf("ETHTOOL_GRINGPARAM reply is %d bytes, want %d", len(b), ringParamLen)
	}
	u := func(i int) uint32 { return binary.NativeEndian.Uint32(b[4+4*i:]) }
	return ringParam{
		RxMax: u(0), RxMiniMax: u(1), RxJumboMax: u(2), TxMax: u(3),
		Rx: u(4), RxMini: u(5), RxJumbo: u(6), Tx: u(7),
	}, nil
}

// ringDirection is one ring of a ringParam, as the direction label value.
type ringDirection struct {
	name         string
	current, max uint32
}

// rings lists the rings a device has: a ring whose maximum is 0 does not
// exist on that NIC.
func (r ringParam) rings() []ringDirection {
	var out []ringDirection
	for _, d := range []ringDirection{
		{"rx", r.Rx, r.RxMax}, {"rx_mini", r.RxMini, r.RxMiniMax},
		{"rx_jumbo", r.RxJumbo, r.RxJumboMax}, {"tx", r.Tx, r.TxMax},
	} {
		if d.max > 0 {
			out = append(out, d)
		}
	}
	return out
}

// driverStat is one driver statistic chosen for export.
type driverStat struct {
	name  string
	value uint64
}

// selectDriverStats picks the statistics whose names match, in driver
// order, keeping the first of duplicate names, at most max of them.
// skipped counts the matching ones left out by the cap.
func selectDriverStats(names []string, values []uint64, match func(string) bool, max int) (out []driverStat, skipped int, err error) {
	if len(names) != len(values) {
		return nil, 0, fmt.Errorf("driver reported %d statistic names but %d values", len(names), len(values))
	}
	seen := make(map[string]bool)
	for i, n := range names {
		if n == "" || seen[n] || !match(n) {
			continue
		}
		seen[n] = true
		if len(out) >= max {
			skipped++
			continue
		}
		out = append(out, driverStat{n, values[i]})
	}
	return out, skipped, nil
}

// statFilter matches driver statistic names against the include and
// exclude patterns (a nil include matches nothing). Every device of a
// driver repeats the same names, so results are cached: matching the
// default pattern backtracks, and a host with a thousand veths asks the
// same ten names a thousand times per scrape.
type statFilter struct {
	include, exclude *regexp.Regexp

	mu    sync.Mutex
	cache map[string]bool
}

// statFilterCacheMax bounds the cache; past it the cache starts over.
const statFilterCacheMax = 8192

func newStatFilter(include, exclude *regexp.Regexp) *statFilter {
	return &statFilter{include: include, exclude: exclude, cache: map[string]bool{}}
}

func (f *statFilter) match(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m, ok := f.cache[name]; ok {
		return m
	}
	m := f.include != nil && f.include.MatchString(name) && (f.exclude == nil || !f.exclude.MatchString(name))
	if len(f.cache) >= statFilterCacheMax {
		clear(f.cache)
	}
	f.cache[name] = m
	return m
}

// Receive overflow reasons, the values of the reason label of
// netcause_network_receive_overflow_total.
const (
	overflowMissed   = "missed"
	overflowNoBuffer = "no_buffer"
	overflowFIFO     = "fifo"
	overflowQueue    = "queue_drop"
)

// overflowStats is the name mapping behind
// netcause_network_receive_overflow_total: driver statistics that count
// the same receive-side event under different names. Values that map to
// the same reason are summed (per-queue counters).
//
//	reason     driver statistic           drivers
//	missed     rx_missed_errors           e1000, e1000e, igb, igc, ixgbe (MPC: packet dropped, RX FIFO full)
//	missed     rx_discards_phy            mlx5 (port dropped it for lack of buffer)
//	no_buffer  rx_no_buffer_count         e1000, e1000e, igb, igc, ixgbe (RNBC: no free descriptor; may end as missed)
//	no_buffer  rx_out_of_buffer           mlx5 (no receive WQE: dropped)
//	fifo       rx_fifo_errors             e1000, igb, ixgbe
//	queue_drop rx_queue_<N>_drops         veth, virtio_net before Linux 6.11 (dropped on receive queue N)
//	queue_drop rx_drops                   virtio_net since Linux 6.11 (already the sum over queues; its
//	                                      per-queue rx<N>_drops are not added again)
var overflowStats = map[string]string{
	"rx_drops":           overflowQueue,
	"rx_missed_errors":   overflowMissed,
	"rx_discards_phy":    overflowMissed,
	"rx_no_buffer_count": overflowNoBuffer,
	"rx_out_of_buffer":   overflowNoBuffer,
	"rx_fifo_errors":     overflowFIFO,
}

// overflowReason returns the reason a driver statistic maps to, if any.
func overflowReason(name string) (string, bool) {
	if r, ok := overflowStats[name]; ok {
		return r, true
	}
	if q, ok := strings.CutPrefix(name, "rx_queue_"); ok {
		if num, ok := strings.CutSuffix(q, "_drops"); ok {
			if _, err := strconv.ParseUint(num, 10, 16); err == nil {
				return overflowQueue, true
			}
		}
	}
	return "", false
}

// normaliseOverflow sums the statistics of the mapping table by reason,
// using each name once. It sees every statistic, not only those the
// include pattern exports.
func normaliseOverflow(names []string, values []uint64) map[string]uint64 {
	out := map[string]uint64{}
	seen := make(map[string]bool)
	for i, n := range names {
		if i >= len(values) || seen[n] {
			continue
		}
		seen[n] = true
		if r, ok := overflowReason(n); ok {
			out[r] += values[i]
		}
	}
	return out
}
