package collector

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

const (
	ethtoolFixtureDir = "testdata/ethtool/"
	// ethtoolFixtureDev is the veth testdata/netdev/capture.sh creates.
	ethtoolFixtureDev = "ncfix0"
)

func writeFixtures(t *testing.T, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(ethtoolFixtureDir+name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(ethtoolFixtureDir + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// captureEthtoolStats writes the three ioctl replies for the fixture veth
// and `ethtool -S` of the same moment.
func captureEthtoolStats(t *testing.T) {
	fd, err := ethtoolSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	sset, err := readSsetInfo(fd, ethtoolFixtureDev)
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := parseSsetInfo(sset)
	if err != nil || !ok {
		t.Fatalf("%s has no driver statistics: %v", ethtoolFixtureDev, err)
	}
	names, err := readStatNames(fd, ethtoolFixtureDev, n)
	if err != nil {
		t.Fatal(err)
	}
	values, err := readStatValues(fd, ethtoolFixtureDev, n)
	if err != nil {
		t.Fatal(err)
	}
	text, err := exec.Command("ethtool", "-S", ethtoolFixtureDev).Output()
	if err != nil {
		t.Fatal(err)
	}
	writeFixtures(t, map[string][]byte{"veth-sset.bin": sset, "veth-strings.bin": names, "veth-stats.bin": values, "veth-S.txt": text})
}

// parseEthtoolS reads `ethtool -S` output into name -> value, in order.
func parseEthtoolS(t *testing.T, text string) ([]string, map[string]uint64) {
	t.Helper()
	var order []string
	vals := map[string]uint64{}
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		i := strings.LastIndex(line, ": ")
		if i < 0 || strings.HasSuffix(line, "statistics:") {
			continue
		}
		v, err := strconv.ParseUint(line[i+2:], 10, 64)
		if err != nil {
			t.Fatalf("ethtool -S line %q: %v", line, err)
		}
		order = append(order, line[:i])
		vals[line[:i]] = v
	}
	return order, vals
}

// TestEthtoolStatsFixture decodes ioctl replies captured from a veth of this
// kernel and checks them against `ethtool -S` of the same moment.
func TestEthtoolStatsFixture(t *testing.T) {
	if *captureFixtures {
		captureEthtoolStats(t)
	}
	n, ok, err := parseSsetInfo(readFixture(t, "veth-sset.bin"))
	if err != nil || !ok {
		t.Fatalf("sset info: %d %v %v", n, ok, err)
	}
	names, err := parseStatNames(readFixture(t, "veth-strings.bin"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := parseStatValues(readFixture(t, "veth-stats.bin"))
	if err != nil {
		t.Fatal(err)
	}
	order, want := parseEthtoolS(t, string(readFixture(t, "veth-S.txt")))
	if len(names) != n || len(values) != n || len(order) != n {
		t.Fatalf("count %d, names %d, values %d, ethtool -S lines %d", n, len(names), len(values), len(order))
	}
	for i, name := range names {
		if name != order[i] || values[i] != want[name] {
			t.Errorf("stat %d: parsed %s=%d, ethtool -S %s=%d", i, name, values[i], order[i], want[order[i]])
		}
	}
	// peer_ifindex is the only statistic a fresh veth is sure to have
	// non-zero; it proves values are not read from the wrong offset.
	if want["peer_ifindex"] == 0 {
		t.Error("fixture's peer_ifindex is 0")
	}

	include := regexp.MustCompile("^(?:" + defaultEthtoolStatInclude + ")$")
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		if err := emitDriverStats("fixture", "ncfix0", names, values, newStatFilter(include, nil).match, 64, ch); err != nil {
			t.Error(err)
		}
	})
	matched := 0
	for _, name := range order {
		key := fmt.Sprintf(`netcause_ethtool_driver_stat_total{device="ncfix0",netns="fixture",stat=%q}`, name)
		v, exported := got[key]
		if include.MatchString(name) != exported {
			t.Errorf("%s: exported %v, pattern match %v", name, exported, include.MatchString(name))
		}
		if exported {
			matched++
			if v != float64(want[name]) {
				t.Errorf("%s = %v, ethtool -S says %d", key, v, want[name])
			}
		}
	}
	if matched == 0 {
		t.Error("default pattern matched no veth statistic")
	}
	key := `netcause_network_receive_overflow_total{device="ncfix0",netns="fixture",reason="queue_drop"}`
	if v, ok := got[key]; !ok || v != float64(want["rx_queue_0_drops"]) {
		t.Errorf("%s = %v (present %v), want rx_queue_0_drops %d", key, v, ok, want["rx_queue_0_drops"])
	}
	if len(got) != matched+1 {
		t.Errorf("%d series, want %d driver stats and one overflow: %v", len(got), matched, got)
	}
}

// captureEthtoolRing writes the GRINGPARAM reply of the first interface in
// the namespace that has ring parameters, and `ethtool -g` of it.
func captureEthtoolRing(t *testing.T) {
	links, err := readLinks(true)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := ethtoolSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	for _, l := range links {
		b, err := readRingParam(fd, l.Name)
		if err != nil {
			continue
		}
		text, err := exec.Command("ethtool", "-g", l.Name).Output()
		if err != nil {
			t.Fatal(err)
		}
		writeFixtures(t, map[string][]byte{"ring.bin": b, "ring.txt": text})
		return
	}
	t.Fatal("no interface in this namespace has ring parameters")
}

// parseEthtoolG reads `ethtool -g` output: section -> field -> value, with
// n/a as 0 (the kernel's value for a ring the NIC lacks).
func parseEthtoolG(t *testing.T, text string) map[string]map[string]uint32 {
	t.Helper()
	out := map[string]map[string]uint32{}
	var sec map[string]uint32
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch {
		case !ok:
		case v == "":
			sec = map[string]uint32{}
			out[k] = sec
		case sec != nil:
			n := uint64(0)
			if v != "n/a" {
				var err error
				if n, err = strconv.ParseUint(v, 10, 32); err != nil {
					continue // fields newer ethtool prints that are not numbers
				}
			}
			sec[k] = uint32(n)
		}
	}
	return out
}

func TestEthtoolRingFixture(t *testing.T) {
	if *captureFixtures {
		captureEthtoolRing(t)
	}
	r, err := parseRingParam(readFixture(t, "ring.bin"))
	if err != nil {
		t.Fatal(err)
	}
	g := parseEthtoolG(t, string(readFixture(t, "ring.txt")))
	max, cur := g["Pre-set maximums"], g["Current hardware settings"]
	if max == nil || cur == nil {
		t.Fatalf("ethtool -g fixture lacks its sections: %v", g)
	}
	for _, c := range []struct {
		field     string
		got, want uint32
	}{
		{"max RX", r.RxMax, max["RX"]}, {"max RX Mini", r.RxMiniMax, max["RX Mini"]},
		{"max RX Jumbo", r.RxJumboMax, max["RX Jumbo"]}, {"max TX", r.TxMax, max["TX"]},
		{"RX", r.Rx, cur["RX"]}, {"RX Mini", r.RxMini, cur["RX Mini"]},
		{"RX Jumbo", r.RxJumbo, cur["RX Jumbo"]}, {"TX", r.Tx, cur["TX"]},
	} {
		if c.got != c.want {
			t.Errorf("%s: parsed %d, ethtool -g %d", c.field, c.got, c.want)
		}
	}
	if r.RxMax == 0 || r.TxMax == 0 {
		t.Errorf("fixture ring has no rx or tx ring: %+v", r)
	}

	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitRings("fixture", "eth0", r, ch) })
	for _, d := range r.rings() {
		for name, want := range map[string]uint32{"netcause_network_ring_entries": d.current, "netcause_network_ring_max_entries": d.max} {
			key := fmt.Sprintf(`%s{device="eth0",direction=%q,netns="fixture"}`, name, d.name)
			if got[key] != float64(want) {
				t.Errorf("%s = %v, want %d", key, got[key], want)
			}
		}
	}
	if len(got) != 2*len(r.rings()) {
		t.Errorf("%d series for %d rings", len(got), len(r.rings()))
	}
}

func TestRingsSkipAbsent(t *testing.T) {
	r := ringParam{RxMax: 4096, Rx: 512, TxMax: 4096, Tx: 1024, RxJumboMax: 0, RxMiniMax: 0}
	got := r.rings()
	if len(got) != 2 || got[0] != (ringDirection{"rx", 512, 4096}) || got[1] != (ringDirection{"tx", 1024, 4096}) {
		t.Errorf("rings() = %+v", got)
	}
	if len((ringParam{}).rings()) != 0 {
		t.Error("a device reporting all zeros has rings")
	}
}

func TestSelectDriverStats(t *testing.T) {
	inc := regexp.MustCompile("^(?:" + defaultEthtoolStatInclude + ")$")
	names := []string{"rx_packets", "rx_missed_errors", "rx_missed_errors", "", "tx_timeout_count", "rx_queue_3_drops", "rx_no_buffer_count", "port.rx_dropped"}
	values := []uint64{100, 5, 6, 7, 2, 3, 4, 8}
	for _, c := range []struct {
		desc    string
		exclude *regexp.Regexp
		max     int
		want    []driverStat
		skipped int
	}{
		{"default", nil, 64, []driverStat{{"rx_missed_errors", 5}, {"tx_timeout_count", 2}, {"rx_queue_3_drops", 3}, {"rx_no_buffer_count", 4}, {"port.rx_dropped", 8}}, 0},
		{"cap", nil, 2, []driverStat{{"rx_missed_errors", 5}, {"tx_timeout_count", 2}}, 3},
		{"exclude", regexp.MustCompile(`^(?:rx_queue_.*)$`), 64, []driverStat{{"rx_missed_errors", 5}, {"tx_timeout_count", 2}, {"rx_no_buffer_count", 4}, {"port.rx_dropped", 8}}, 0},
		{"zero cap", nil, 0, nil, 5},
	} {
		f := newStatFilter(inc, c.exclude)
		got, skipped, err := selectDriverStats(names, values, f.match, c.max)
		// Again, from the filter's cache.
		again, _, _ := selectDriverStats(names, values, f.match, c.max)
		if fmt.Sprint(again) != fmt.Sprint(got) {
			t.Errorf("%s: cached match differs: %v, then %v", c.desc, got, again)
		}
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || skipped != c.skipped {
			t.Errorf("%s: got %v skipped %d, want %v skipped %d", c.desc, got, skipped, c.want, c.skipped)
		}
	}
	if got, _, _ := selectDriverStats(names, values, newStatFilter(nil, nil).match, 64); len(got) != 0 {
		t.Errorf("empty include exported %v", got)
	}
	if _, _, err := selectDriverStats(names, values[:3], newStatFilter(inc, nil).match, 64); err == nil {
		t.Error("no error when names and values differ in number")
	}
}

func TestNormaliseOverflow(t *testing.T) {
	for _, c := range []struct {
		driver string
		names  []string
		values []uint64
		want   map[string]uint64
	}{
		{"igb", []string{"rx_packets", "rx_missed_errors", "rx_no_buffer_count", "rx_fifo_errors"}, []uint64{9, 1, 2, 3},
			map[string]uint64{"missed": 1, "no_buffer": 2, "fifo": 3}},
		{"mlx5", []string{"rx_out_of_buffer", "rx_discards_phy", "rx0_packets"}, []uint64{4, 5, 6},
			map[string]uint64{"no_buffer": 4, "missed": 5}},
		{"veth", []string{"peer_ifindex", "rx_queue_0_drops", "rx_queue_1_drops", "rx_queue_0_xdp_drops"}, []uint64{2, 7, 8, 100},
			map[string]uint64{"queue_drop": 15}},
		{"virtio_net 6.11+", []string{"rx_drops", "rx0_drops", "rx1_drops"}, []uint64{11, 5, 6},
			map[string]uint64{"queue_drop": 11}},
		{"duplicate name counted once", []string{"rx_missed_errors", "rx_missed_errors"}, []uint64{1, 1},
			map[string]uint64{"missed": 1}},
		{"not a queue number", []string{"rx_queue_x_drops", "rx_queue__drops", "rx_queue_99999999_drops"}, []uint64{1, 1, 1},
			map[string]uint64{}},
	} {
		if got := normaliseOverflow(c.names, c.values); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: %v, want %v", c.driver, got, c.want)
		}
	}
}

func TestEthtoolParseErrors(t *testing.T) {
	strs := readFixture(t, "veth-strings.bin")
	stats := readFixture(t, "veth-stats.bin")
	huge := func(b []byte, off int) []byte {
		c := append([]byte{}, b...)
		binary.NativeEndian.PutUint32(c[off:], 1<<20)
		return c
	}
	overBuffer := func(b []byte, off, unit int) []byte {
		c := append([]byte{}, b...)
		binary.NativeEndian.PutUint32(c[off:], uint32(len(b)/unit+1))
		return c
	}
	for desc, fn := range map[string]func() error{
		"sset short":         func() error { _, _, err := parseSsetInfo(make([]byte, 16)); return err },
		"sset huge count":    func() error { _, _, err := parseSsetInfo(huge(readFixture(t, "veth-sset.bin"), 16)); return err },
		"strings short":      func() error { _, err := parseStatNames(strs[:8]); return err },
		"strings huge count": func() error { _, err := parseStatNames(huge(strs, 8)); return err },
		"strings past end":   func() error { _, err := parseStatNames(overBuffer(strs, 8, ethGStringLen)); return err },
		"stats short":        func() error { _, err := parseStatValues(stats[:4]); return err },
		"stats huge count":   func() error { _, err := parseStatValues(huge(stats, 4)); return err },
		"stats past end":     func() error { _, err := parseStatValues(overBuffer(stats, 4, 8)); return err },
		"ring short":         func() error { _, err := parseRingParam(make([]byte, 35)); return err },
	} {
		if fn() == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

func TestParseSsetInfoNoStats(t *testing.T) {
	b := make([]byte, ssetInfoLen) // mask cleared: the driver has no set
	binary.NativeEndian.PutUint32(b[16:], 12)
	if n, ok, err := parseSsetInfo(b); ok || err != nil || n != 0 {
		t.Errorf("got %d %v %v, want no statistics", n, ok, err)
	}
}

func TestParseStatNamesSanitises(t *testing.T) {
	b := make([]byte, gstringsHdr+2*ethGStringLen)
	binary.NativeEndian.PutUint32(b[8:], 2)
	copy(b[gstringsHdr:], "rx_\xffdrops")                                   // invalid UTF-8
	copy(b[gstringsHdr+ethGStringLen:], strings.Repeat("x", ethGStringLen)) // no NUL at all
	names, err := parseStatNames(b)
	if err != nil {
		t.Fatal(err)
	}
	if names[0] != "rx_\uFFFDdrops" || names[1] != strings.Repeat("x", ethGStringLen) {
		t.Errorf("names %q", names)
	}
}

func TestDeviceErrors(t *testing.T) {
	var d deviceErrors
	d.add("lo", fmt.Errorf("ETHTOOL_GRINGPARAM: %w", syscall.EOPNOTSUPP))
	d.add("gone0", syscall.ENODEV)
	if d.err() != nil {
		t.Fatalf("not-supported and vanished devices are errors: %v", d.err())
	}
	d.add("eth0", syscall.EPERM)
	d.add("eth1", errors.New("ETHTOOL_GSTATS reply claims 3 values, buffer holds 1"))
	err := d.err()
	if !errors.Is(err, syscall.EPERM) || Reason(err) != ReasonPermissionDenied || !strings.Contains(err.Error(), "1 more") {
		t.Errorf("err = %v", err)
	}
}

// FuzzEthtoolReplies feeds every ethtool reply parser arbitrary bytes: none
// may panic, and a parsed reply never claims more entries than it holds.
func FuzzEthtoolReplies(f *testing.F) {
	for i, name := range []string{"veth-sset.bin", "veth-strings.bin", "veth-stats.bin", "ring.bin"} {
		f.Add(uint8(i), readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, which uint8, b []byte) {
		switch which % 4 {
		case 0:
			_, _, _ = parseSsetInfo(b)
		case 1:
			if names, err := parseStatNames(b); err == nil && gstringsHdr+len(names)*ethGStringLen > len(b) {
				t.Fatalf("%d names from %d bytes", len(names), len(b))
			}
		case 2:
			if vals, err := parseStatValues(b); err == nil && gstatsHdr+len(vals)*8 > len(b) {
				t.Fatalf("%d values from %d bytes", len(vals), len(b))
			}
		case 3:
			_, _ = parseRingParam(b)
		}
	})
}
