package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

// captureFixtures rewrites the netdev and ethtool fixtures from the live
// kernel of the namespace the test runs in; testdata/capture.sh sets the
// namespace up and runs the tests with it.
var captureFixtures = flag.Bool("collector.capture", false, "rewrite testdata/netdev and testdata/ethtool from the live kernel (see testdata/capture.sh)")

const (
	netdevFixtureMsgs = "testdata/netdev/links.bin"
	netdevFixtureJSON = "testdata/netdev/links.json"
)

// captureNetdevFixture writes the raw rtnetlink link dump (netlink headers
// included, as the kernel sent it) and iproute2's reading of the same state.
func captureNetdevFixture(t *testing.T) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfInfomsg),
	})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, m := range msgs {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	js, err := exec.Command("ip", "-s", "-s", "-d", "-j", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{netdevFixtureMsgs: raw, netdevFixtureJSON: js} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fixtureLinkMessages returns the RTM_NEWLINK bodies of the captured dump.
func fixtureLinkMessages(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(netdevFixtureMsgs)
	if err != nil {
		t.Fatal(err)
	}
	nms, err := syscall.ParseNetlinkMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range nms {
		if m.Header.Type == unix.RTM_NEWLINK {
			out = append(out, m.Data)
		}
	}
	if len(out) == 0 {
		t.Fatal("fixture holds no RTM_NEWLINK message")
	}
	return out
}

// ipLink is the part of `ip -s -s -d -j link show` the fixture test
// compares against.
type ipLink struct {
	Ifindex   uint32 `json:"ifindex"`
	Ifname    string `json:"ifname"`
	MTU       uint32 `json:"mtu"`
	Operstate string `json:"operstate"`
	Linkinfo  struct {
		InfoKind string `json:"info_kind"`
	} `json:"linkinfo"`
	Stats64 struct {
		Rx map[string]uint64 `json:"rx"`
		Tx map[string]uint64 `json:"tx"`
	} `json:"stats64"`
}

// TestNetdevFixture parses a link dump captured from this kernel and checks
// every interface against what iproute2 decoded from the same moment.
func TestNetdevFixture(t *testing.T) {
	if *captureFixtures {
		captureNetdevFixture(t)
	}
	links, err := parseLinkMessages(fixtureLinkMessages(t))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(netdevFixtureJSON)
	if err != nil {
		t.Fatal(err)
	}
	var want []ipLink
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	if len(links) != len(want) {
		t.Fatalf("parsed %d interfaces, iproute2 saw %d", len(links), len(want))
	}
	// iproute2's JSON keys for each stats64 field.
	rx := map[string]int{"bytes": stRxBytes, "packets": stRxPackets, "errors": stRxErrors, "dropped": stRxDropped,
		"over_errors": stRxOverErrors, "multicast": stMulticast, "length_errors": stRxLengthErrors,
		"crc_errors": stRxCRCErrors, "frame_errors": stRxFrameErrors, "fifo_errors": stRxFIFOErrors, "missed_errors": stRxMissedErrors}
	tx := map[string]int{"bytes": stTxBytes, "packets": stTxPackets, "errors": stTxErrors, "dropped": stTxDropped,
		"carrier_errors": stTxCarrierErrors, "collisions": stCollisions, "aborted_errors": stTxAbortedErrors,
		"fifo_errors": stTxFIFOErrors, "window_errors": stTxWindowErrors, "heartbeat_errors": stTxHeartbeatErrors}
	for i, w := range want {
		l := links[i]
		if l.Name != w.Ifname || l.Index != w.Ifindex {
			t.Errorf("interface %d: parsed %s (index %d), iproute2 %s (index %d)", i, l.Name, l.Index, w.Ifname, w.Ifindex)
			continue
		}
		if !l.HasMTU || l.MTU != w.MTU {
			t.Errorf("%s: MTU %d, iproute2 %d", l.Name, l.MTU, w.MTU)
		}
		if got := operStateName(l.OperState); got != strings.ToLower(w.Operstate) {
			t.Errorf("%s: operstate %s, iproute2 %s", l.Name, got, w.Operstate)
		}
		if l.Kind != w.Linkinfo.InfoKind {
			t.Errorf("%s: kind %q, iproute2 %q", l.Name, l.Kind, w.Linkinfo.InfoKind)
		}
		// iproute2 prints IFLA_CARRIER_CHANGES among the tx statistics.
		if cc, ok := w.Stats64.Tx["carrier_changes"]; !ok || !l.HasCarrierChanges || uint64(l.CarrierChanges) != cc {
			t.Errorf("%s: carrier changes %d (present %v), iproute2 %d (present %v)", l.Name, l.CarrierChanges, l.HasCarrierChanges, cc, ok)
		}
		if l.Stats == nil {
			t.Errorf("%s: no IFLA_STATS64", l.Name)
			continue
		}
		for _, side := range []struct {
			name string
			keys map[string]int
			got  map[string]uint64
		}{{"rx", rx, w.Stats64.Rx}, {"tx", tx, w.Stats64.Tx}} {
			for key, field := range side.keys {
				v, ok := side.got[key]
				if !ok {
					t.Errorf("%s: iproute2 JSON has no %s %s", l.Name, side.name, key)
					continue
				}
				if l.Stats[field] != v {
					t.Errorf("%s: %s %s = %d, iproute2 %d", l.Name, side.name, key, l.Stats[field], v)
				}
			}
		}
	}

	// The capture script set these up, so a field read from the wrong
	// offset shows here too.
	byName := map[string]netdevLink{}
	for _, l := range links {
		byName[l.Name] = l
	}
	fix, ok := byName["ncfix0"]
	if !ok {
		t.Fatal("fixture lacks ncfix0, the MTU-100 veth of testdata/capture.sh")
	}
	if fix.MTU != 100 || fix.Kind != "veth" || fix.Stats[stRxDropped] == 0 {
		t.Errorf("ncfix0: MTU %d kind %q rx dropped %d; want 100, veth, > 0", fix.MTU, fix.Kind, fix.Stats[stRxDropped])
	}
}

// TestNetdevEmit checks the metric names and values one interface becomes,
// and the include/exclude filter.
func TestNetdevEmit(t *testing.T) {
	links, err := parseLinkMessages(fixtureLinkMessages(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := newDeviceFilter("ncfix.*", "ncfixbr")
	if err != nil {
		t.Fatal(err)
	}
	var fix netdevLink
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		for _, l := range links {
			if f.ignored(l.Name) {
				continue
			}
			if l.Name == "ncfix0" {
				fix = l
			}
			emitNetdev("fixture", l, map[uint32]uint32{l.Index: 10000}, ch)
		}
	})
	if fix.Name == "" {
		t.Fatal("ncfix0 not in fixture")
	}
	dev := `device="ncfix0",netns="fixture"`
	for key, want := range map[string]float64{
		`netcause_network_mtu_bytes{` + dev + `}`:                                           100,
		`netcause_network_up{` + dev + `}`:                                                  1,
		`netcause_network_info{device="ncfix0",kind="veth",netns="fixture",operstate="up"}`: 1,
		`netcause_network_speed_bytes{` + dev + `}`:                                         1.25e9,
		`netcause_network_receive_dropped_total{` + dev + `}`:                               float64(fix.Stats[stRxDropped]),
		`netcause_network_receive_packets_total{` + dev + `}`:                               float64(fix.Stats[stRxPackets]),
		`netcause_network_transmit_bytes_total{` + dev + `}`:                                float64(fix.Stats[stTxBytes]),
		`netcause_network_carrier_changes_total{` + dev + `}`:                               float64(fix.CarrierChanges),
		`netcause_network_transmit_carrier_errors_total{` + dev + `}`:                       float64(fix.Stats[stTxCarrierErrors]),
		`netcause_network_receive_missed_errors_total{` + dev + `}`:                         float64(fix.Stats[stRxMissedErrors]),
		`netcause_network_receive_over_errors_total{` + dev + `}`:                           float64(fix.Stats[stRxOverErrors]),
		`netcause_network_transmit_aborted_errors_total{` + dev + `}`:                       float64(fix.Stats[stTxAbortedErrors]),
		`netcause_network_receive_length_errors_total{` + dev + `}`:                         float64(fix.Stats[stRxLengthErrors]),
		`netcause_network_receive_crc_errors_total{` + dev + `}`:                            float64(fix.Stats[stRxCRCErrors]),
		`netcause_network_receive_frame_errors_total{` + dev + `}`:                          float64(fix.Stats[stRxFrameErrors]),
		`netcause_network_receive_fifo_errors_total{` + dev + `}`:                           float64(fix.Stats[stRxFIFOErrors]),
		`netcause_network_transmit_fifo_errors_total{` + dev + `}`:                          float64(fix.Stats[stTxFIFOErrors]),
		`netcause_network_receive_bytes_total{` + dev + `}`:                                 float64(fix.Stats[stRxBytes]),
		`netcause_network_receive_errors_total{` + dev + `}`:                                float64(fix.Stats[stRxErrors]),
		`netcause_network_transmit_packets_total{` + dev + `}`:                              float64(fix.Stats[stTxPackets]),
		`netcause_network_transmit_errors_total{` + dev + `}`:                               float64(fix.Stats[stTxErrors]),
		`netcause_network_transmit_dropped_total{` + dev + `}`:                              float64(fix.Stats[stTxDropped]),
	} {
		if v, ok := got[key]; !ok {
			t.Errorf("%s missing", key)
		} else if v != want {
			t.Errorf("%s = %v, want %v", key, v, want)
		}
	}
	if fix.Stats[stRxDropped] == 0 {
		t.Error("fixture's rx dropped is 0: the comparison above proves nothing")
	}
	// 17 counters, MTU, up, info, speed and carrier changes for ncfix0
	// only: lo is not included, the bridge ncfixbr is excluded.
	if len(got) != len(netdevStats)+5 {
		t.Errorf("got %d series, want %d (one interface): %v", len(got), len(netdevStats)+5, got)
	}
}

func TestDeviceFilter(t *testing.T) {
	for _, c := range []struct {
		include, exclude string
		name             string
		ignored          bool
	}{
		{"", "", "eth0", false},
		{"eth.*", "", "eth0", false},
		{"eth.*", "", "veth0", true}, // anchored: eth.* does not match veth0
		{"", "lo", "lo", true},
		{"", "lo", "flow0", false},
		{"eth.*|ens.*", "eth1", "eth1", true},
	} {
		f, err := newDeviceFilter(c.include, c.exclude)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.ignored(c.name); got != c.ignored {
			t.Errorf("include %q exclude %q: ignored(%s) = %v, want %v", c.include, c.exclude, c.name, got, c.ignored)
		}
	}
	if _, err := newDeviceFilter("(", ""); err == nil {
		t.Error("bad include pattern accepted")
	}
}

func TestValidSpeed(t *testing.T) {
	for in, want := range map[int]bool{-1: false, 0: false, 10: true, 400000: true, 4294967295: false} {
		if _, ok := validSpeed(in); ok != want {
			t.Errorf("validSpeed(%d) ok = %v, want %v", in, ok, want)
		}
	}
}

// attr encodes one netlink attribute.
func attr(typ uint16, data []byte) []byte {
	b := make([]byte, 4, 4+len(data)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(data)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func linkMsg(attrs ...[]byte) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], 7)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestParseLinkMessage(t *testing.T) {
	name := attr(unix.IFLA_IFNAME, []byte("eth7\x00"))
	stats := make([]byte, 24*8) // a later kernel's longer struct
	binary.NativeEndian.PutUint64(stats[stRxDropped*8:], 42)
	binary.NativeEndian.PutUint64(stats[stTxCarrierErrors*8:], 9)
	l, err := parseLinkMessage(linkMsg(name, attr(unix.IFLA_MTU, u32(9000)), attr(unix.IFLA_STATS64, stats),
		attr(unix.IFLA_OPERSTATE, []byte{ifOperUp}), attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte("vxlan\x00"))),
		attr(unix.IFLA_CARRIER_CHANGES, u32(3)), attr(999, []byte{1, 2, 3}))) // unknown attributes are skipped
	if err != nil {
		t.Fatal(err)
	}
	if l.Index != 7 || l.Name != "eth7" || l.MTU != 9000 || l.Kind != "vxlan" || l.OperState != ifOperUp ||
		l.CarrierChanges != 3 || l.Stats[stRxDropped] != 42 || l.Stats[stTxCarrierErrors] != 9 {
		t.Errorf("parsed %+v", l)
	}

	// A minimal interface: no stats, no carrier changes, no kind.
	l, err = parseLinkMessage(linkMsg(name))
	if err != nil || l.Stats != nil || l.HasMTU || l.HasCarrierChanges || l.Kind != "" {
		t.Errorf("minimal message: %+v, %v", l, err)
	}

	for desc, msg := range map[string][]byte{
		"empty":                   nil,
		"short ifinfomsg":         make([]byte, 10),
		"no name":                 linkMsg(attr(unix.IFLA_MTU, u32(1500))),
		"short stats64":           linkMsg(name, attr(unix.IFLA_STATS64, make([]byte, 64))),
		"mtu not u32":             linkMsg(name, attr(unix.IFLA_MTU, []byte{1, 2})),
		"operstate not u8":        linkMsg(name, attr(unix.IFLA_OPERSTATE, u32(6))),
		"carrier changes not u32": linkMsg(name, attr(unix.IFLA_CARRIER_CHANGES, []byte{1})),
		"attribute past the end":  append(linkMsg(name), 0xff, 0x00, 0x03, 0x00),
		"truncated header":        append(linkMsg(name), 8, 0),
		"linkinfo nested garbage": linkMsg(name, attr(unix.IFLA_LINKINFO, []byte{0xff, 0xff, 1, 0})),
		"link not u32":            linkMsg(name, attr(unix.IFLA_LINK, []byte{1, 2})),
		"link netnsid not s32":    linkMsg(name, attr(unix.IFLA_LINK_NETNSID, []byte{1})),
		"master not u32":          linkMsg(name, attr(unix.IFLA_MASTER, []byte{1, 2, 3})),
	} {
		if _, err := parseLinkMessage(msg); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

// TestParseLinkMessagesPartial: one malformed message fails the dump but
// the well-formed interfaces survive.
func TestParseLinkMessagesPartial(t *testing.T) {
	msgs := fixtureLinkMessages(t)
	bad := append(append([][]byte{}, msgs...), make([]byte, 3))
	links, err := parseLinkMessages(bad)
	if err == nil {
		t.Fatal("no error for a malformed message")
	}
	if len(links) != len(msgs) {
		t.Errorf("kept %d interfaces, want %d", len(links), len(msgs))
	}
	// An interface repeated (a dump the kernel could not keep consistent)
	// is kept once.
	links, err = parseLinkMessages(append(append([][]byte{}, msgs...), msgs[0]))
	if err != nil || len(links) != len(msgs) {
		t.Errorf("repeated interface: %d interfaces, %v; want %d", len(links), err, len(msgs))
	}
}

// FuzzParseLinkMessage: no input may panic, and whatever parses has a name.
func FuzzParseLinkMessage(f *testing.F) {
	for _, m := range fixtureLinkMessages(f) {
		f.Add(m)
	}
	f.Add(linkMsg(attr(unix.IFLA_IFNAME, []byte("x\x00")), attr(unix.IFLA_LINKINFO, attr(unix.IFLA_INFO_KIND, []byte("veth")))))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := parseLinkMessage(b)
		if err == nil && l.Name == "" {
			t.Fatalf("parsed without a name: %+v", l)
		}
	})
}

func TestLinkDumpBodies(t *testing.T) {
	msg := func(typ, flags uint16, data []byte) []byte {
		m := nlRequest(typ, flags, 1, data)
		for len(m)%4 != 0 {
			m = append(m, 0)
		}
		return m
	}
	errno := func(e syscall.Errno) []byte {
		return binary.NativeEndian.AppendUint32(nil, uint32(-int32(e)))
	}
	link := []byte{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name        string
		reply       []byte
		bodies      int
		interrupted bool
		err         error // an errno the kernel sent
		malformed   bool
	}{
		{"two links and done", append(append(msg(unix.RTM_NEWLINK, unix.NLM_F_MULTI, link), msg(unix.RTM_NEWLINK, unix.NLM_F_MULTI, link)...), msg(unix.NLMSG_DONE, unix.NLM_F_MULTI, errno(0))...), 2, false, nil, false},
		{"interrupted", append(msg(unix.RTM_NEWLINK, unix.NLM_F_MULTI|unix.NLM_F_DUMP_INTR, link), msg(unix.NLMSG_DONE, unix.NLM_F_MULTI, errno(0))...), 1, true, nil, false},
		{"refused", msg(unix.NLMSG_ERROR, 0, append(errno(unix.EPERM), make([]byte, 16)...)), 0, false, unix.EPERM, false},
		{"dump ended by an error", append(msg(unix.RTM_NEWLINK, unix.NLM_F_MULTI, link), msg(unix.NLMSG_DONE, unix.NLM_F_MULTI, errno(unix.EMSGSIZE))...), 0, false, unix.EMSGSIZE, false},
		{"cut header", msg(unix.RTM_NEWLINK, 0, link)[:10], 0, false, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bodies, interrupted, err := linkDumpBodies(tc.reply)
			if tc.malformed {
				if err == nil {
					t.Fatal("no error for a malformed reply")
				}
				return
			}
			if !errors.Is(err, tc.err) || (err != nil) != (tc.err != nil) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			if len(bodies) != tc.bodies || interrupted != tc.interrupted {
				t.Fatalf("%d bodies, interrupted %v; want %d, %v", len(bodies), interrupted, tc.bodies, tc.interrupted)
			}
			for _, b := range bodies {
				if !bytes.Equal(b, link) {
					t.Fatalf("body %v, want %v", b, link)
				}
			}
		})
	}
}

// TestNetlinkQueryTruncated asks this machine's kernel for a link dump
// into a buffer too small for one message: the reader must say how big the
// datagram was rather than return part of it.
func TestNetlinkQueryTruncated(t *testing.T) {
	fd, err := nlOpen(unix.NETLINK_ROUTE, rtnetlinkTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	req := nlRequest(unix.RTM_GETLINK, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 1, make([]byte, unix.SizeofIfInfomsg))
	_, err = nlQuery(fd, req, make([]byte, 64), rtnetlinkTimeout, 10)
	var trunc *nlTruncatedError
	if !errors.As(err, &trunc) {
		t.Fatalf("error %v, want a truncation", err)
	}
	if trunc.Size <= 64 || trunc.Buffer != 64 {
		t.Fatalf("%+v", trunc)
	}
}
