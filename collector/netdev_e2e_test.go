package collector_test

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/netcause/netcause/internal/nstest"
)

// ipLinkStats is `ip -s -s -j link show dev X`, the form an engineer reads.
type ipLinkStats struct {
	Ifindex   int    `json:"ifindex"`
	Ifname    string `json:"ifname"`
	MTU       int    `json:"mtu"`
	Operstate string `json:"operstate"`
	Stats64   struct {
		Rx map[string]float64 `json:"rx"`
		Tx map[string]float64 `json:"tx"`
	} `json:"stats64"`
}

func ipLinkShow(t *testing.T, ns *nstest.NS, dev string) (ipLinkStats, string) {
	t.Helper()
	out := ns.Run("ip", "-s", "-s", "-j", "link", "show", "dev", dev)
	var links []ipLinkStats
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -s -j link show dev %s in %s: %v: %s", dev, ns.Name, err, out)
	}
	return links[0], out
}

// The seed case's MTU half: a container's eth0 has MTU 100 and everything
// larger than that is dropped on arrival. The exported MTU, drop and error
// counters of that interface must equal what `ip -s link` shows inside the
// namespace, under the namespace's own label, and the host's series must
// not contain the namespace's interfaces.
func TestNetdevMTUDropsInNamespace(t *testing.T) {
	srv, cli := nstest.New(t), nstest.New(t)
	// IPv6 sends router solicitations and MLD reports for seconds after a
	// link comes up, sometimes more than the quiescence poll apart: without
	// it only the test's own packets arrive.
	for _, ns := range []*nstest.NS{srv, cli} {
		ns.Run("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	nstest.Veth(t, srv, "ncmtu0", "10.214.0.1/24", cli, "ncmtu1", "10.214.0.2/24")
	srv.Run("ip", "link", "set", "ncmtu0", "mtu", "100")
	// With GSO/TSO on, the sender hands the veth large GSO packets that skip
	// the receiver's MTU check (shared/toolchain.md).
	cli.Run("ethtool", "-K", "ncmtu1", "tso", "off", "gso", "off")

	// UDP datagrams of 1028 bytes, sent from the peer: each is dropped by
	// ncmtu0. A bounded number, so the expected count is known.
	const sent = 20
	conn, err := cli.Dial("udp", "10.214.0.1:9", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1000)
	for i := 0; i < sent; i++ {
		if _, err := conn.Write(payload); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		time.Sleep(5 * time.Millisecond) // let ARP resolve; its queue holds few packets
	}
	conn.Close()

	read := func() string { _, raw := ipLinkShow(t, srv, "ncmtu0"); return raw }
	before := nstest.Quiesce(t, 20*time.Second, 500*time.Millisecond, read)
	s := nstest.Scrape(t, "netdev")
	if read() != before {
		t.Fatal("counters moved during the scrape; cannot compare exactly")
	}
	ip, _ := ipLinkShow(t, srv, "ncmtu0")

	dev := map[string]string{"netns": srv.Name, "device": "ncmtu0"}
	if got := s.Must(t, "netcause_network_mtu_bytes", dev); got != 100 {
		t.Errorf("netcause_network_mtu_bytes%v = %v, want 100", dev, got)
	}
	for _, c := range []struct {
		metric, side, field string
	}{
		{"netcause_network_receive_dropped_total", "rx", "dropped"},
		{"netcause_network_receive_errors_total", "rx", "errors"},
		{"netcause_network_receive_over_errors_total", "rx", "over_errors"},
		{"netcause_network_receive_missed_errors_total", "rx", "missed_errors"},
		{"netcause_network_receive_fifo_errors_total", "rx", "fifo_errors"},
		{"netcause_network_receive_frame_errors_total", "rx", "frame_errors"},
		{"netcause_network_receive_crc_errors_total", "rx", "crc_errors"},
		{"netcause_network_receive_length_errors_total", "rx", "length_errors"},
		{"netcause_network_receive_packets_total", "rx", "packets"},
		{"netcause_network_receive_bytes_total", "rx", "bytes"},
		{"netcause_network_transmit_dropped_total", "tx", "dropped"},
		{"netcause_network_transmit_errors_total", "tx", "errors"},
		{"netcause_network_transmit_carrier_errors_total", "tx", "carrier_errors"},
		{"netcause_network_transmit_packets_total", "tx", "packets"},
		{"netcause_network_carrier_changes_total", "tx", "carrier_changes"},
	} {
		stats := ip.Stats64.Rx
		if c.side == "tx" {
			stats = ip.Stats64.Tx
		}
		want, ok := stats[c.field]
		if !ok {
			t.Errorf("ip -s -s -j shows no %s %s", c.side, c.field)
			continue
		}
		if got := s.Must(t, c.metric, dev); got != want {
			t.Errorf("%s%v = %v, ip -s link says %s %s = %v", c.metric, dev, got, c.side, c.field, want)
		}
	}
	// Every oversized datagram was dropped on arrival (ARP may have queued
	// and dropped a few before they reached the veth, never more).
	t.Logf("ncmtu0: rx dropped %v, rx errors %v after %d oversized datagrams", ip.Stats64.Rx["dropped"], ip.Stats64.Rx["errors"], sent)
	if d := ip.Stats64.Rx["dropped"]; d == 0 || d > sent {
		t.Errorf("rx dropped = %v after %d oversized datagrams, want 1..%d", d, sent, sent)
	}
	if got := s.Must(t, "netcause_network_up", dev); got != 1 {
		t.Errorf("netcause_network_up%v = %v, want 1", dev, got)
	}
	if len(s.Find("netcause_network_info", map[string]string{"netns": srv.Name, "device": "ncmtu0", "kind": "veth", "operstate": "up"})) != 1 {
		t.Errorf("netcause_network_info of ncmtu0 missing or wrong: %v", s.Find("netcause_network_info", dev))
	}
	// The speed ethtool shows for the same interface.
	m := regexp.MustCompile(`Speed: (\d+)Mb/s`).FindStringSubmatch(srv.Run("ethtool", "ncmtu0"))
	if m == nil {
		t.Fatal("ethtool shows no speed for a veth")
	}
	mbps, _ := strconv.ParseFloat(m[1], 64)
	if got := s.Must(t, "netcause_network_speed_bytes", dev); got != mbps*1e6/8 {
		t.Errorf("netcause_network_speed_bytes%v = %v, ethtool says %v Mb/s", dev, got, mbps)
	}

	// Each namespace sees its own interfaces only.
	if n := len(s.Find("netcause_network_mtu_bytes", map[string]string{"netns": srv.Name})); n != 2 {
		t.Errorf("%s exports %d interfaces, want 2 (lo, ncmtu0)", srv.Name, n)
	}
	for _, d := range []string{"ncmtu0", "ncmtu1"} {
		if found := s.Find("netcause_network_mtu_bytes", map[string]string{"netns": "host", "device": d}); len(found) != 0 {
			t.Errorf("host series include the test namespace's %s: %v", d, found)
		}
	}
	hostNames := hostInterfaces(t)
	host := s.Find("netcause_network_mtu_bytes", map[string]string{"netns": "host"})
	if len(host) != len(hostNames) {
		t.Errorf("host exports %d interfaces, ip link in the host shows %d (%v)", len(host), len(hostNames), hostNames)
	}
	for _, smp := range host {
		if !hostNames[smp.Labels["device"]] {
			t.Errorf("host series for %s, which ip link in the host does not show", smp.Labels["device"])
		}
	}
}

// hostInterfaces lists the interfaces of the test binary's own namespace.
func hostInterfaces(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("ip", "-j", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var links []ipLinkStats
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, l := range links {
		names[l.Ifname] = true
	}
	return names
}
