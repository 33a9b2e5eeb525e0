package collector

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

const (
	peerFixtureMsgs   = "testdata/netdev/peers.bin"
	peerFixtureJSON   = "testdata/netdev/peers.json"
	peerFixtureRemote = "testdata/netdev/peer_remote.bin"
)

// capturePeerFixture writes the link dump of the namespace the test runs
// in (capture_peers.sh sets it up), iproute2's reading of it, and the
// kernel's reply about the cross-namespace peer of ncpf0.
func capturePeerFixture(t *testing.T) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	marshal := func(msgs []netlink.Message) []byte {
		var raw []byte
		for _, m := range msgs {
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b...)
		}
		return raw
	}
	dump, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	})
	if err != nil {
		t.Fatal(err)
	}
	var bodies [][]byte
	for _, m := range dump {
		bodies = append(bodies, m.Data)
	}
	links, err := parseLinkMessages(bodies)
	if err != nil {
		t.Fatal(err)
	}
	refs := remoteRefs(linkPeers(links))
	if len(refs) != 1 {
		t.Fatalf("want one cross-namespace peer (ncpf1), found %v", refs)
	}
	remote, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request},
		Data:   remoteLinkRequest(refs[0]),
	})
	if err != nil {
		t.Fatal(err)
	}
	js, err := exec.Command("ip", "-d", "-j", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{peerFixtureMsgs: marshal(dump), peerFixtureJSON: js, peerFixtureRemote: marshal(remote)} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtureNetlinkMessages reads a file of netlink messages as the kernel
// sent them.
func fixtureNetlinkMessages(t testing.TB, path string) []netlink.Message {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	nms, err := syscall.ParseNetlinkMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]netlink.Message, 0, len(nms))
	for _, m := range nms {
		out = append(out, netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(m.Header.Type), Flags: netlink.HeaderFlags(m.Header.Flags)},
			Data:   m.Data,
		})
	}
	return out
}

// ipLinkPeer is the part of `ip -d -j link show` that names a link's peer.
type ipLinkPeer struct {
	Ifindex     uint32 `json:"ifindex"`
	Ifname      string `json:"ifname"`
	MTU         uint32 `json:"mtu"`
	LinkIndex   *uint32
	Link        string `json:"link"` // the peer's name, when it is in this namespace
	LinkNetnsid *int32 `json:"link_netnsid"`
	Master      string `json:"master"`
}

// UnmarshalJSON reads link_index, which iproute2 prints only when
// IFLA_LINK differs from the interface's own index.
func (l *ipLinkPeer) UnmarshalJSON(b []byte) error {
	type plain ipLinkPeer
	var aux struct {
		plain
		LinkIndex *uint32 `json:"link_index"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*l = ipLinkPeer(aux.plain)
	l.LinkIndex = aux.LinkIndex
	return nil
}

// TestNetdevPeerFixture parses a link dump captured from this kernel,
// checks the peer fields against iproute2, and resolves every peer MTU,
// the cross-namespace one from the kernel's captured reply.
func TestNetdevPeerFixture(t *testing.T) {
	if *captureFixtures {
		capturePeerFixture(t)
	}
	var bodies [][]byte
	for _, m := range fixtureNetlinkMessages(t, peerFixtureMsgs) {
		if m.Header.Type == unix.RTM_NEWLINK {
			bodies = append(bodies, m.Data)
		}
	}
	links, err := parseLinkMessages(bodies)
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(peerFixtureJSON)
	if err != nil {
		t.Fatal(err)
	}
	var want []ipLinkPeer
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(links) {
		t.Fatalf("parsed %d interfaces, iproute2 saw %d", len(links), len(want))
	}
	index := map[string]uint32{}
	for _, w := range want {
		index[w.Ifname] = w.Ifindex
	}
	for i, w := range want {
		l := links[i]
		if l.Name != w.Ifname {
			t.Fatalf("interface %d: %s, iproute2 %s", i, l.Name, w.Ifname)
		}
		switch {
		case w.LinkIndex != nil && l.Link != *w.LinkIndex:
			t.Errorf("%s: IFLA_LINK %d, iproute2 link_index %d", l.Name, l.Link, *w.LinkIndex)
		case w.Link != "" && l.Link != index[w.Link]:
			t.Errorf("%s: IFLA_LINK %d, iproute2 link %s (index %d)", l.Name, l.Link, w.Link, index[w.Link])
		}
		if (w.LinkNetnsid != nil) != l.HasLinkNetNSID || w.LinkNetnsid != nil && *w.LinkNetnsid != l.LinkNetNSID {
			t.Errorf("%s: link netnsid %d (present %v), iproute2 %v", l.Name, l.LinkNetNSID, l.HasLinkNetNSID, w.LinkNetnsid)
		}
		if l.Master != index[w.Master] {
			t.Errorf("%s: IFLA_MASTER %d, iproute2 master %q (index %d)", l.Name, l.Master, w.Master, index[w.Master])
		}
	}

	peers := linkPeers(links)
	refs := remoteRefs(peers)
	if len(refs) != 1 {
		t.Fatalf("cross-namespace peers %v, want one (ncpf0's)", refs)
	}
	l, ok := remoteLinkReply(refs[0], fixtureNetlinkMessages(t, peerFixtureRemote))
	if !ok || l.Name != "ncpf1" || l.MTU != 1500 {
		t.Fatalf("remote reply: %+v, %v; want ncpf1 with MTU 1500", l, ok)
	}
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		emitPeerMTUs("fixture", resolvePeerMTUs(links, peers, map[peerRef]netdevLink{refs[0]: l}), ch)
	})
	wantSeries := map[string]float64{
		`netcause_network_peer_mtu_bytes{device="ncpf0",netns="fixture",peer="veth"}`:   1500,
		`netcause_network_peer_mtu_bytes{device="ncpf2",netns="fixture",peer="veth"}`:   9000,
		`netcause_network_peer_mtu_bytes{device="ncpf2",netns="fixture",peer="bridge"}`: 1500,
		`netcause_network_peer_mtu_bytes{device="ncpf3",netns="fixture",peer="veth"}`:   1400,
	}
	if len(got) != len(wantSeries) {
		t.Errorf("got %v, want %v", got, wantSeries)
	}
	for k, v := range wantSeries {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestLinkPeers(t *testing.T) {
	links := []netdevLink{
		{Index: 1, Name: "lo", MTU: 65536, HasMTU: true},
		{Index: 2, Name: "eth0", MTU: 1500, HasMTU: true},
		{Index: 3, Name: "eth0.7", Kind: "vlan", Link: 2, MTU: 1496, HasMTU: true}, // lower device: not a peer
		{Index: 4, Name: "bond0", Kind: "bond", MTU: 9000, HasMTU: true},
		{Index: 5, Name: "eth1", Master: 4, MTU: 9000, HasMTU: true}, // bond slave: not compared
		{Index: 6, Name: "v0", Kind: "veth", Link: 9, LinkNetNSID: 3, HasLinkNetNSID: true, MTU: 1400, HasMTU: true},
		{Index: 7, Name: "v1", Kind: "veth", Link: 8, LinkNetNSID: -1, HasLinkNetNSID: true}, // id not assigned
		{Index: 8, Name: "v2", Kind: "veth"},                                                 // peer gone: IFLA_LINK 0
		{Index: 10, Name: "v3", Kind: "veth", Link: 99, MTU: 1500, HasMTU: true},             // same-namespace peer missing from the dump
		{Index: 11, Name: "port", Master: 12, MTU: 1500, HasMTU: true},                       // master not in the dump: no bridge
	}
	peers := linkPeers(links)
	if len(peers) != 2 || peers[0] != (linkPeer{device: "v0", kind: peerVeth, ref: peerRef{3, 9}}) ||
		peers[1] != (linkPeer{device: "v3", kind: peerVeth, ref: peerRef{-1, 99}}) {
		t.Fatalf("peers %+v", peers)
	}
	// The remote peer answered; the missing local one is left out.
	out := resolvePeerMTUs(links, peers, map[peerRef]netdevLink{{3, 9}: {Index: 9, MTU: 1500, HasMTU: true}})
	if len(out) != 1 || out[0] != (peerMTU{"v0", peerVeth, 1500}) {
		t.Errorf("resolved %+v", out)
	}
	if refs := remoteRefs(append(peers, peers...)); len(refs) != 1 {
		t.Errorf("remote refs not deduplicated: %v", refs)
	}
}

// replyMsg wraps a link message body as the kernel's reply.
func replyMsg(body []byte) []netlink.Message {
	return []netlink.Message{{Header: netlink.Header{Type: unix.RTM_NEWLINK}, Data: body}}
}

func s32(v int32) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(v)) }

func TestRemoteLinkReply(t *testing.T) {
	ref := peerRef{nsid: 2, index: 7} // linkMsg's index is 7
	name, mtu := attr(unix.IFLA_IFNAME, []byte("eth0\x00")), attr(unix.IFLA_MTU, u32(1450))
	if l, ok := remoteLinkReply(ref, replyMsg(linkMsg(name, mtu, attr(unix.IFLA_TARGET_NETNSID, s32(2))))); !ok || l.MTU != 1450 {
		t.Errorf("good reply: %+v, %v", l, ok)
	}
	for desc, msgs := range map[string][]netlink.Message{
		// A kernel before 4.15 answers about its own interface 7.
		"no target id echoed": replyMsg(linkMsg(name, mtu)),
		"other target id":     replyMsg(linkMsg(name, mtu, attr(unix.IFLA_TARGET_NETNSID, s32(3)))),
		"malformed":           replyMsg(linkMsg(attr(unix.IFLA_MTU, []byte{1}))),
		"not a link message":  {{Header: netlink.Header{Type: unix.RTM_NEWADDR}, Data: linkMsg(name, mtu, attr(unix.IFLA_TARGET_NETNSID, s32(2)))}},
		"nothing":             nil,
	} {
		if l, ok := remoteLinkReply(ref, msgs); ok {
			t.Errorf("%s: accepted %+v", desc, l)
		}
	}
	if _, ok := remoteLinkReply(peerRef{nsid: 2, index: 8}, replyMsg(linkMsg(name, mtu, attr(unix.IFLA_TARGET_NETNSID, s32(2))))); ok {
		t.Error("reply about another index accepted")
	}
}

func TestRemoteLinkRequest(t *testing.T) {
	b := remoteLinkRequest(peerRef{nsid: 5, index: 42})
	if got := binary.NativeEndian.Uint32(b[4:8]); got != 42 {
		t.Errorf("ifi_index %d, want 42", got)
	}
	ad, err := netlink.NewAttributeDecoder(b[unix.SizeofIfInfomsg:])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint16]uint32{}
	for ad.Next() {
		seen[ad.Type()] = ad.Uint32()
	}
	if ad.Err() != nil || seen[unix.IFLA_TARGET_NETNSID] != 5 || seen[unix.IFLA_EXT_MASK] != linkDumpSkipStats {
		t.Errorf("attributes %v, %v", seen, ad.Err())
	}
}

// FuzzRemoteLinkReply: any reply body is either rejected or is about the
// interface and namespace asked for.
func FuzzRemoteLinkReply(f *testing.F) {
	for _, m := range fixtureNetlinkMessages(f, peerFixtureRemote) {
		f.Add(m.Data)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ref := peerRef{nsid: 0, index: 2}
		if len(b) >= 8 {
			ref.index = binary.NativeEndian.Uint32(b[4:8])
		}
		l, ok := remoteLinkReply(ref, replyMsg(b))
		if ok && (l.Index != ref.index || l.TargetNetNSID != ref.nsid) {
			t.Fatalf("accepted a reply about %d in %d for %+v", l.Index, l.TargetNetNSID, ref)
		}
	})
}
