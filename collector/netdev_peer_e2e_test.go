package collector_test

import (
	"encoding/json"
	"testing"

	"github.com/netcause/netcause/internal/nstest"
)

// ipLinkMTUs maps interface names to MTUs as `ip -j link show` lists them
// in ns.
func ipLinkMTUs(t *testing.T, ns *nstest.NS) map[string]float64 {
	t.Helper()
	out := ns.Run("ip", "-j", "link", "show")
	var links []ipLinkStats
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j link show in %s: %v", ns.Name, err)
	}
	m := map[string]float64{}
	for _, l := range links {
		m[l.Ifname] = float64(l.MTU)
	}
	return m
}

// TestNetdevPeerMTU: the MTU of each interface's other end, for a veth
// whose peer is in another namespace, one whose peer is in the same
// namespace, one whose peer's namespace the exporter does not read (it has
// no name any more), and a bridge port. The values must be the MTUs `ip
// link` shows for those peers, so a 1400-byte end facing a 1500-byte one is
// visible from the 1400-byte side.
func TestNetdevPeerMTU(t *testing.T) {
	a, b, hidden := nstest.New(t), nstest.New(t), nstest.New(t)
	nstest.Veth(t, a, "ncp0", "", b, "ncp1", "")
	a.Run("ip", "link", "set", "ncp0", "mtu", "1400")
	b.Run("ip", "link", "set", "ncp1", "mtu", "1500")

	// A bridge with its MTU set by hand, and a port below it whose veth
	// peer is in the same namespace.
	b.Run("ip", "link", "add", "ncp2", "type", "veth", "peer", "name", "ncp3")
	b.Run("ip", "link", "add", "ncpbr", "type", "bridge")
	b.Run("ip", "link", "set", "ncp2", "mtu", "1400", "master", "ncpbr", "up")
	b.Run("ip", "link", "set", "ncpbr", "mtu", "1500", "up")
	b.Run("ip", "link", "set", "ncp3", "mtu", "9000", "up")

	// A peer in a namespace kept alive by a process only: no target of the
	// exporter, still resolvable through the namespace id.
	nstest.Veth(t, a, "ncp4", "", hidden, "ncp5", "")
	hidden.Run("ip", "link", "set", "ncp5", "mtu", "1450")
	hidden.Start("sleep", "120")
	hidden.Run("true") // the sleep has entered the namespace once ip netns exec has run it
	hiddenMTUs := ipLinkMTUs(t, hidden)
	a.Run("ip", "netns", "del", hidden.Name)

	aMTU, bMTU := ipLinkMTUs(t, a), ipLinkMTUs(t, b)
	if bMTU["ncpbr"] != 1500 || bMTU["ncp2"] != 1400 {
		t.Fatalf("setup: bridge MTU %v, port MTU %v; want 1500 and 1400 (the kernel lowered the bridge?)", bMTU["ncpbr"], bMTU["ncp2"])
	}

	s := nstest.Scrape(t, "netdev")
	for _, c := range []struct {
		ns         *nstest.NS
		dev, peer  string
		want       float64
		peerSource string
	}{
		{a, "ncp0", "veth", bMTU["ncp1"], "ncp1 in the other namespace"},
		{b, "ncp1", "veth", aMTU["ncp0"], "ncp0 in the other namespace"},
		{b, "ncp2", "veth", bMTU["ncp3"], "ncp3 in the same namespace"},
		{b, "ncp3", "veth", bMTU["ncp2"], "ncp2 in the same namespace"},
		{b, "ncp2", "bridge", bMTU["ncpbr"], "its bridge ncpbr"},
		{a, "ncp4", "veth", hiddenMTUs["ncp5"], "ncp5 in an unnamed namespace"},
	} {
		got := s.Must(t, "netcause_network_peer_mtu_bytes", map[string]string{"netns": c.ns.Name, "device": c.dev, "peer": c.peer})
		if got != c.want || c.want == 0 {
			t.Errorf("%s/%s peer %s = %v, want %v (%s)", c.ns.Name, c.dev, c.peer, got, c.want, c.peerSource)
		}
	}
	// Nothing for interfaces without a peer (lo, the bridge itself), and
	// one series per relation.
	if n := len(s.Find("netcause_network_peer_mtu_bytes", map[string]string{"netns": b.Name})); n != 4 {
		t.Errorf("%s exports %d peer MTUs, want 4 (ncp1, ncp2 twice, ncp3): %v", b.Name, n,
			s.Find("netcause_network_peer_mtu_bytes", map[string]string{"netns": b.Name}))
	}
	if n := len(s.Find("netcause_network_peer_mtu_bytes", map[string]string{"netns": a.Name})); n != 2 {
		t.Errorf("%s exports %d peer MTUs, want 2 (ncp0, ncp4)", a.Name, n)
	}
	for _, dev := range []string{"lo", "ncpbr"} {
		if found := s.Find("netcause_network_peer_mtu_bytes", map[string]string{"device": dev, "netns": b.Name}); len(found) != 0 {
			t.Errorf("%s has a peer MTU: %v", dev, found)
		}
	}
	// The comparison the alert makes: the lower end is the one below its peer.
	if s.Must(t, "netcause_network_mtu_bytes", map[string]string{"netns": a.Name, "device": "ncp0"}) >=
		s.Must(t, "netcause_network_peer_mtu_bytes", map[string]string{"netns": a.Name, "device": "ncp0", "peer": "veth"}) {
		t.Error("ncp0 (1400) is not below its peer (1500) in the exported values")
	}
}
