package collector_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/netcause/netcause/collector"
	"github.com/netcause/netcause/internal/nstest"
)

// ethtoolS parses `ethtool -S DEV` into names in driver order and values.
func ethtoolS(t *testing.T, text string) ([]string, map[string]float64) {
	t.Helper()
	var order []string
	vals := map[string]float64{}
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		i := strings.LastIndex(line, ": ")
		if i < 0 || strings.HasSuffix(line, "statistics:") {
			continue
		}
		v, err := strconv.ParseFloat(line[i+2:], 64)
		if err != nil {
			t.Fatalf("ethtool -S line %q: %v", line, err)
		}
		order = append(order, line[:i])
		vals[line[:i]] = v
	}
	if len(order) == 0 {
		t.Fatalf("ethtool -S printed no statistics: %q", text)
	}
	return order, vals
}

// A veth has driver statistics (ethtool -S) but no rings. The exported
// statistics must be exactly those of `ethtool -S` that match the pattern,
// with its values; with the pattern opened up, every statistic; with a cap,
// no more than the cap.
func TestEthtoolVethDriverStats(t *testing.T) {
	a, b := nstest.New(t), nstest.New(t)
	// Two bridges first, so the veth's peer gets ifindex 4 in its
	// namespace: peer_ifindex then proves values come from the right slot.
	b.Run("ip", "link", "add", "ncetbr0", "type", "bridge")
	b.Run("ip", "link", "add", "ncetbr1", "type", "bridge")
	nstest.Veth(t, a, "ncet0", "10.215.0.1/24", b, "ncet1", "10.215.0.2/24")
	if conn, err := b.Dial("udp", "10.215.0.1:9", 2*time.Second); err == nil {
		for i := 0; i < 10; i++ {
			_, _ = conn.Write([]byte("netcause"))
		}
		conn.Close()
	}

	read := func() string { return a.Run("ethtool", "-S", "ncet0") }
	scrape := func() (nstest.Samples, []string, map[string]float64) {
		before := nstest.Quiesce(t, 20*time.Second, 300*time.Millisecond, read)
		s := nstest.Scrape(t, "ethtool")
		if read() != before {
			t.Fatal("driver statistics moved during the scrape; cannot compare exactly")
		}
		order, vals := ethtoolS(t, before)
		return s, order, vals
	}
	dev := map[string]string{"netns": a.Name, "device": "ncet0"}
	exported := func(s nstest.Samples) map[string]float64 {
		out := map[string]float64{}
		for _, smp := range s.Find("netcause_ethtool_driver_stat_total", dev) {
			out[smp.Labels["stat"]] = smp.Value
		}
		return out
	}

	// Default pattern.
	s, order, want := scrape()
	got := exported(s)
	include := regexp.MustCompile("^(?:" + collector.DefaultEthtoolStatInclude + ")$")
	matched := 0
	for _, name := range order {
		v, ok := got[name]
		if include.MatchString(name) != ok {
			t.Errorf("%s: exported %v, matches the default pattern %v", name, ok, include.MatchString(name))
			continue
		}
		if ok {
			matched++
			if v != want[name] {
				t.Errorf("driver stat %s = %v, ethtool -S says %v", name, v, want[name])
			}
		}
	}
	if matched == 0 || len(got) != matched {
		t.Errorf("exported %d statistics, %d of ethtool -S match the pattern: %v", len(got), matched, got)
	}
	od := map[string]string{"netns": a.Name, "device": "ncet0", "reason": "queue_drop"}
	if v := s.Must(t, "netcause_network_receive_overflow_total", od); v != want["rx_queue_0_drops"] {
		t.Errorf("receive overflow queue_drop = %v, ethtool -S rx_queue_0_drops = %v", v, want["rx_queue_0_drops"])
	}
	if r := s.Find("netcause_network_ring_entries", dev); len(r) != 0 {
		t.Errorf("a veth has no rings, yet exported %v", r)
	}
	if u := s.Find("netcause_collector_unavailable", map[string]string{"collector": "ethtool", "netns": a.Name}); len(u) != 0 {
		t.Errorf("interfaces without rings (lo, veth) made the collector fail: %v", u)
	}
	if h := s.Find("netcause_ethtool_driver_stat_total", map[string]string{"netns": "host", "device": "ncet0"}); len(h) != 0 {
		t.Errorf("host series include the test namespace's veth: %v", h)
	}

	// Every statistic.
	restore := collector.SetEthtoolStatOptions(".*", 64)
	s, order, want = scrape()
	restore()
	got = exported(s)
	if len(got) != len(order) {
		t.Errorf("include .* exported %d statistics, ethtool -S shows %d", len(got), len(order))
	}
	for _, name := range order {
		if got[name] != want[name] {
			t.Errorf("driver stat %s = %v, ethtool -S says %v", name, got[name], want[name])
		}
	}
	peer, _ := ipLinkShow(t, b, "ncet1")
	if got["peer_ifindex"] != float64(peer.Ifindex) || peer.Ifindex < 4 {
		t.Errorf("peer_ifindex = %v, the peer's ifindex is %d", got["peer_ifindex"], peer.Ifindex)
	}

	// The cap.
	restore = collector.SetEthtoolStatOptions(".*", 3)
	s, order, _ = scrape()
	restore()
	if n := len(exported(s)); n != 3 {
		t.Errorf("cap 3: exported %d statistics", n)
	}
	if v := s.Must(t, "netcause_ethtool_driver_stats_over_cap", dev); v != float64(len(order)-3) {
		t.Errorf("over cap = %v, want %d", v, len(order)-3)
	}
}

// ethtoolG parses `ethtool -g DEV`: section -> field -> value, n/a as 0.
func ethtoolG(t *testing.T, text string) (max, cur map[string]float64) {
	t.Helper()
	secs := map[string]map[string]float64{}
	var sec map[string]float64
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		v = strings.TrimSpace(v)
		switch {
		case !ok:
		case v == "":
			sec = map[string]float64{}
			secs[k] = sec
		case sec != nil:
			if v == "n/a" {
				sec[k] = 0
			} else if n, err := strconv.ParseFloat(v, 64); err == nil {
				sec[k] = n
			}
		}
	}
	max, cur = secs["Pre-set maximums"], secs["Current hardware settings"]
	if max == nil || cur == nil {
		t.Fatalf("ethtool -g output without its sections: %q", text)
	}
	return max, cur
}

// checkRings compares the exported ring sizes of dev in netns with
// `ethtool -g` output.
func checkRings(t *testing.T, s nstest.Samples, netns, dev, ethtoolOut string) {
	t.Helper()
	max, cur := ethtoolG(t, ethtoolOut)
	checked := 0
	for dir, field := range map[string]string{"rx": "RX", "rx_mini": "RX Mini", "rx_jumbo": "RX Jumbo", "tx": "TX"} {
		lbl := map[string]string{"netns": netns, "device": dev, "direction": dir}
		if max[field] == 0 {
			if f := s.Find("netcause_network_ring_max_entries", lbl); len(f) != 0 {
				t.Errorf("%s %s: ethtool -g says n/a, exported %v", dev, dir, f)
			}
			continue
		}
		checked++
		if got := s.Must(t, "netcause_network_ring_max_entries", lbl); got != max[field] {
			t.Errorf("%s %s ring max = %v, ethtool -g %v", dev, dir, got, max[field])
		}
		if got := s.Must(t, "netcause_network_ring_entries", lbl); got != cur[field] {
			t.Errorf("%s %s ring = %v, ethtool -g %v", dev, dir, got, cur[field])
		}
	}
	if checked == 0 {
		t.Errorf("%s: ethtool -g shows no ring", dev)
	}
}

// Ring sizes against `ethtool -g`. A netdevsim device moved into a test
// namespace is the only virtual device with rings; where the kernel lacks
// netdevsim, the host's own NICs are read instead (read-only), and with
// neither the test fails.
func TestEthtoolRingSizes(t *testing.T) {
	if ns, dev, ok := netdevsimInNamespace(t); ok {
		// A size that is neither the default nor the maximum, where the
		// kernel's netdevsim lets rings be set.
		if out, err := ns.RunErr("ethtool", "-G", dev, "rx", "300", "tx", "200"); err != nil {
			t.Logf("ethtool -G %s: %v: %s (comparing the default sizes)", dev, err, out)
		}
		s := nstest.Scrape(t, "ethtool")
		checkRings(t, s, ns.Name, dev, ns.Run("ethtool", "-g", dev))
		return
	}
	s := nstest.Scrape(t, "ethtool")
	found := 0
	for dev := range hostInterfaces(t) {
		out, err := exec.Command("ethtool", "-g", dev).Output()
		if err != nil {
			if f := s.Find("netcause_network_ring_entries", map[string]string{"netns": "host", "device": dev}); len(f) != 0 {
				t.Errorf("%s: ethtool -g fails, yet exported %v", dev, f)
			}
			continue
		}
		found++
		t.Logf("netdevsim unavailable; comparing the host's %s (read-only)", dev)
		checkRings(t, s, "host", dev, string(out))
	}
	if found == 0 {
		t.Fatal("no device with ring parameters: this kernel has no netdevsim (CONFIG_NETDEVSIM) and no host interface answers ethtool -g")
	}
}

// netdevsimInNamespace creates a netdevsim device, moves its netdev into a
// new test namespace and deletes the device when the test ends. ok is false
// when the kernel has no netdevsim.
func netdevsimInNamespace(t *testing.T) (*nstest.NS, string, bool) {
	const bus = "/sys/bus/netdevsim/"
	if _, err := os.Stat(bus + "new_device"); err != nil {
		if out, err := exec.Command("modprobe", "netdevsim").CombinedOutput(); err != nil {
			t.Logf("netdevsim unavailable: modprobe netdevsim: %v: %s", err, strings.TrimSpace(string(out)))
			return nil, "", false
		}
		if _, err := os.Stat(bus + "new_device"); err != nil {
			t.Logf("netdevsim unavailable: %v", err)
			return nil, "", false
		}
	}
	id := 7000 + os.Getpid()%1000
	if err := os.WriteFile(bus+"new_device", []byte(fmt.Sprintf("%d 1", id)), 0); err != nil {
		t.Fatalf("create netdevsim %d: %v", id, err)
	}
	t.Cleanup(func() { _ = os.WriteFile(bus+"del_device", []byte(strconv.Itoa(id)), 0) })
	var dev string
	for deadline := time.Now().Add(5 * time.Second); dev == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m, _ := filepath.Glob(fmt.Sprintf("%sdevices/netdevsim%d/net/*", bus, id)); len(m) > 0 {
			dev = filepath.Base(m[0])
		}
	}
	if dev == "" {
		t.Fatalf("netdevsim %d created no netdev", id)
	}
	ns := nstest.New(t)
	if out, err := exec.Command("ip", "link", "set", dev, "netns", ns.Name).CombinedOutput(); err != nil {
		t.Fatalf("move %s into %s: %v: %s", dev, ns.Name, err, out)
	}
	return ns, dev, true
}
