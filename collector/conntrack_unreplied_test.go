package collector

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/netcause/netcause/internal/netns"
)

const (
	ctUnrepliedDumpFixture = "testdata/conntrack/unreplied_dump.bin"
	ctUnrepliedToolFixture = "testdata/conntrack/unreplied_conntrack_L.txt"
)

// captureUnrepliedFixture writes every entry of the calling namespace's
// table as ctnetlink sends it, and conntrack-tools' listing of the table.
func captureUnrepliedFixture(t *testing.T) {
	fd, err := ctnetlinkOpen()
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	dump, err := ctnetlinkQuery(fd, ctMsgGet, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, 1)
	if err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("conntrack", "-L", "-o", "extended").Output()
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{ctUnrepliedDumpFixture: dump, ctUnrepliedToolFixture: list} {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// toolEntry is one line of `conntrack -L -o extended`.
type toolEntry struct {
	proto                 string
	unreplied, snat, dnat bool
}

// parseConntrackL reads the fields the classification depends on from
// conntrack-tools' listing: the protocol, [UNREPLIED], and the NAT as the
// tuples show it (a reply addressed elsewhere than the original source is
// SNAT; one coming from elsewhere than the original destination, DNAT).
func parseConntrackL(t *testing.T, text string) []toolEntry {
	t.Helper()
	var out []toolEntry
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			t.Fatalf("short line %q", line)
		}
		e := toolEntry{proto: f[2], unreplied: strings.Contains(line, "[UNREPLIED]")}
		var src, dst []string
		for _, kv := range f {
			if v, ok := strings.CutPrefix(kv, "src="); ok {
				src = append(src, v)
			}
			if v, ok := strings.CutPrefix(kv, "dst="); ok {
				dst = append(dst, v)
			}
		}
		if len(src) != 2 || len(dst) != 2 {
			t.Fatalf("line %q: want two tuples", line)
		}
		e.snat, e.dnat = dst[1] != src[0], src[1] != dst[0]
		out = append(out, e)
	}
	return out
}

func fixtureCTEntries(t testing.TB) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(ctUnrepliedDumpFixture)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := ctReplyBodies(raw, ctMsgNew)
	if err != nil {
		t.Fatal(err)
	}
	return bodies
}

var ctProtoByName = map[string]uint8{"tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmp": unix.IPPROTO_ICMP}

// TestConntrackUnrepliedFixture decodes a table captured from this kernel
// (capture_unreplied.sh), checks every entry against conntrack-tools'
// listing of the same table, and counts the unreplied ones.
func TestConntrackUnrepliedFixture(t *testing.T) {
	if *captureFixtures {
		captureUnrepliedFixture(t)
	}
	bodies := fixtureCTEntries(t)
	tool := parseConntrackL(t, string(mustRead(t, ctUnrepliedToolFixture)))
	if len(bodies) != len(tool) {
		t.Fatalf("dump holds %d entries, conntrack -L lists %d", len(bodies), len(tool))
	}
	// The same multiset of (protocol, unreplied, snat, dnat).
	key := func(proto uint8, unreplied, snat, dnat bool) string {
		return strconv.Itoa(int(proto)) + strconv.FormatBool(unreplied) + strconv.FormatBool(snat) + strconv.FormatBool(dnat)
	}
	want := map[string]int{}
	for _, e := range tool {
		p, ok := ctProtoByName[e.proto]
		if !ok {
			t.Fatalf("fixture holds protocol %s; extend ctProtoByName", e.proto)
		}
		want[key(p, e.unreplied, e.snat, e.dnat)]++
	}
	var c ctUnrepliedCounts
	rawUnrepliedSNAT := 0
	for _, b := range bodies {
		e, err := decodeCTEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if !e.hasTimeout || e.proto == unix.IPPROTO_TCP && !e.hasTCP {
			t.Errorf("entry without timeout or TCP state: %+v", e)
		}
		k := key(e.proto, e.status&ipsSeenReply == 0, e.status&ipsSrcNAT != 0, e.status&ipsDstNAT != 0)
		if want[k] == 0 {
			t.Errorf("entry %+v is not in conntrack -L (or once too often)", e)
		}
		want[k]--
		if e.proto == unix.IPPROTO_TCP && e.status&(ipsSeenReply|ipsSrcNAT|ipsDstNAT) == ipsSrcNAT {
			rawUnrepliedSNAT++
		}
		c.add(e, ctDefaultTimeouts)
	}
	if rawUnrepliedSNAT != 5 {
		t.Errorf("%d unreplied SNAT TCP entries in the dump, capture_unreplied.sh made 5", rawUnrepliedSNAT)
	}

	// What capture_unreplied.sh made; the fifth SNAT SYN was less than 2 s
	// old, and the masqueraded echo connections were answered.
	got := gatherValues(t, func(ch chan<- prometheus.Metric) { emitCTUnreplied("fixture", c, ch) })
	expect := map[string]float64{
		`netcause_conntrack_unreplied_entries{nat="snat",netns="fixture",protocol="tcp"}`: 4,
		`netcause_conntrack_unreplied_entries{nat="dnat",netns="fixture",protocol="tcp"}`: 1,
		`netcause_conntrack_unreplied_entries{nat="both",netns="fixture",protocol="tcp"}`: 1,
		`netcause_conntrack_unreplied_entries{nat="none",netns="fixture",protocol="udp"}`: 1,
		`netcause_conntrack_unreplied_truncated{netns="fixture"}`:                         0,
	}
	if len(got) != len(ctNATNames)*len(ctProtoNames)+1 {
		t.Errorf("%d series, want one per nat and protocol plus truncated", len(got))
	}
	for k, v := range got {
		if expect[k] != v {
			t.Errorf("%s = %v, want %v", k, v, expect[k])
		}
	}
}

// entry builds a ctEntry for the classification table.
func entry(proto uint8, status, timeout uint32, tcpState uint8) ctEntry {
	return ctEntry{status: status, proto: proto, timeout: timeout, hasTimeout: true, tcpState: tcpState, hasTCP: proto == unix.IPPROTO_TCP}
}

func TestCTUnrepliedAdd(t *testing.T) {
	to := ctTimeouts{tcpSynSent: 120, udp: 30, icmp: 30, icmpv6: 60}
	for _, c := range []struct {
		name       string
		e          ctEntry
		nat, proto int
		counted    bool
	}{
		{"replied", entry(unix.IPPROTO_TCP, ipsSeenReply|ipsSrcNAT, 100, 3), 1, ctProtoTCP, false},
		{"SYN 1 s old", entry(unix.IPPROTO_TCP, ipsSrcNAT, 119, tcpConntrackSent), 1, ctProtoTCP, false},
		{"SYN 2 s old (rounded)", entry(unix.IPPROTO_TCP, ipsSrcNAT, 118, tcpConntrackSent), 1, ctProtoTCP, false},
		{"SYN over 2 s old", entry(unix.IPPROTO_TCP, ipsSrcNAT, 117, tcpConntrackSent), 1, ctProtoTCP, true},
		{"simultaneous open", entry(unix.IPPROTO_TCP, ipsDstNAT, 10, tcpConntrackSent2), 2, ctProtoTCP, true},
		{"mid-stream pickup, one way", entry(unix.IPPROTO_TCP, 0, 299, 3), 0, ctProtoTCP, true},
		{"SYN before a timeout raise", entry(unix.IPPROTO_TCP, 0, 200, tcpConntrackSent), 0, ctProtoTCP, false},
		{"both NATs", entry(unix.IPPROTO_TCP, ipsSrcNAT|ipsDstNAT, 60, tcpConntrackSent), 3, ctProtoTCP, true},
		{"UDP fresh", entry(unix.IPPROTO_UDP, 0, 29, 0), 0, ctProtoUDP, false},
		{"UDP idle", entry(unix.IPPROTO_UDP, 0, 20, 0), 0, ctProtoUDP, true},
		{"UDP-Lite idle", entry(unix.IPPROTO_UDPLITE, 0, 20, 0), 0, ctProtoUDP, true},
		{"ICMPv6 uses its own timeout", entry(unix.IPPROTO_ICMPV6, 0, 50, 0), 0, ctProtoICMP, true},
		{"ICMP fresh", entry(unix.IPPROTO_ICMP, 0, 30, 0), 0, ctProtoICMP, false},
		{"GRE: no known timeout", entry(unix.IPPROTO_GRE, ipsDstNAT, 599, 0), 2, ctProtoOther, true},
		{"no timeout attribute", ctEntry{proto: unix.IPPROTO_UDP}, 0, ctProtoUDP, true},
	} {
		var cnt ctUnrepliedCounts
		cnt.add(c.e, to)
		want := uint64(0)
		if c.counted {
			want = 1
		}
		if cnt.n[c.nat][c.proto] != want {
			t.Errorf("%s: counted %d in %s/%s, want %d (%v)", c.name, cnt.n[c.nat][c.proto], ctNATNames[c.nat], ctProtoNames[c.proto], want, cnt.n)
		}
	}
}

// ctAttr encodes one netfilter attribute (big-endian value, nested flag
// when asked).
func ctAttr(typ uint16, nested bool, data []byte) []byte {
	if nested {
		typ |= unix.NLA_F_NESTED
	}
	return attr(typ, data)
}

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func ctEntryMsg(attrs ...[]byte) []byte {
	b := []byte{unix.AF_INET, unix.NFNETLINK_V0, 0, 0}
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

func TestDecodeCTEntry(t *testing.T) {
	proto := ctAttr(ctaTupleOrig, true, ctAttr(ctaTupleProto, true, attr(ctaProtoNum, []byte{unix.IPPROTO_TCP})))
	tcp := ctAttr(ctaProtoinfo, true, ctAttr(ctaProtoinfoTCP, true, attr(ctaProtoinfoTCPSt, []byte{tcpConntrackSent})))
	e, err := decodeCTEntry(ctEntryMsg(proto, attr(ctaStatus, be32(ipsSrcNAT|8)), attr(ctaTimeout, be32(117)), tcp))
	if err != nil {
		t.Fatal(err)
	}
	if e.proto != unix.IPPROTO_TCP || e.status != ipsSrcNAT|8 || e.timeout != 117 || !e.hasTCP || e.tcpState != tcpConntrackSent {
		t.Errorf("decoded %+v", e)
	}
	status := attr(ctaStatus, be32(0))
	for desc, msg := range map[string][]byte{
		"short nfgenmsg":     {2, 0},
		"no status":          ctEntryMsg(proto),
		"no protocol":        ctEntryMsg(status),
		"status not u32":     ctEntryMsg(proto, attr(ctaStatus, []byte{1})),
		"protocol not u8":    ctEntryMsg(status, ctAttr(ctaTupleOrig, true, ctAttr(ctaTupleProto, true, attr(ctaProtoNum, []byte{6, 0})))),
		"tcp state not u8":   ctEntryMsg(status, proto, ctAttr(ctaProtoinfo, true, ctAttr(ctaProtoinfoTCP, true, attr(ctaProtoinfoTCPSt, []byte{1, 2})))),
		"tuple garbage":      ctEntryMsg(status, ctAttr(ctaTupleOrig, true, []byte{0xff, 0xff, 1, 0})),
		"attribute past end": append(ctEntryMsg(status, proto), 0xff, 0x00, 0x03, 0x00),
	} {
		if _, err := decodeCTEntry(msg); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

// nlDatagram builds one netlink datagram of messages (type, body).
func nlDatagram(msgs ...nlMsg) []byte {
	var out []byte
	for _, m := range msgs {
		h := make([]byte, unix.NLMSG_HDRLEN)
		binary.NativeEndian.PutUint32(h, uint32(unix.NLMSG_HDRLEN+len(m.data)))
		binary.NativeEndian.PutUint16(h[4:], m.typ)
		out = append(out, h...)
		out = append(out, m.data...)
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
	}
	return out
}

func TestCTDumpDatagram(t *testing.T) {
	ent := nlMsg{typ: unix.NFNL_SUBSYS_CTNETLINK<<8 | ctMsgNew, data: []byte{2, 0, 0, 0}}
	done := nlMsg{typ: unix.NLMSG_DONE, data: make([]byte, 4)}
	visited := 0
	visit := func([]byte) error { visited++; return nil }

	r, err := ctDumpDatagram(nlDatagram(ent, ent, ent), 10, visit)
	if err != nil || r != (ctDatagram{count: 3}) || visited != 3 {
		t.Errorf("three entries: %+v %v, visited %d", r, err, visited)
	}
	// Room for two of three, then the end: the third is reported skipped
	// even though the dump ended in the same datagram.
	visited = 0
	r, err = ctDumpDatagram(nlDatagram(ent, ent, ent, done), 2, visit)
	if err != nil || r != (ctDatagram{count: 2, skipped: true, done: true}) || visited != 2 {
		t.Errorf("limit reached: %+v %v, visited %d", r, err, visited)
	}
	// The kernel refusing the dump (no CAP_NET_ADMIN).
	eperm := nlMsg{typ: unix.NLMSG_ERROR, data: binary.NativeEndian.AppendUint32(nil, negErrno(syscall.EPERM))}
	if _, err := ctDumpDatagram(nlDatagram(eperm), 10, visit); Reason(err) != ReasonPermissionDenied {
		t.Errorf("EPERM: %v (reason %s)", err, Reason(err))
	}
	for desc, d := range map[string][]byte{
		"short error":     nlDatagram(nlMsg{typ: unix.NLMSG_ERROR, data: []byte{1}}),
		"unexpected type": nlDatagram(nlMsg{typ: unix.RTM_NEWLINK}),
		"truncated":       nlDatagram(ent)[:10],
	} {
		if _, err := ctDumpDatagram(d, 10, visit); err == nil {
			t.Errorf("%s: no error", desc)
		}
	}
}

// negErrno is an errno as NLMSG_ERROR carries it: negated.
func negErrno(e syscall.Errno) uint32 {
	v := -int32(e)
	return uint32(v)
}

func TestCTUnrepliedRequest(t *testing.T) {
	req := ctUnrepliedRequest(7)
	msgs, err := splitNetlink(req)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %v", msgs, err)
	}
	m := msgs[0]
	if m.typ != unix.NFNL_SUBSYS_CTNETLINK<<8|ctMsgGet || m.flags != unix.NLM_F_REQUEST|unix.NLM_F_DUMP || m.seq != 7 {
		t.Errorf("header %+v", m)
	}
	ad, err := ctAttributes(m.data[nfgenmsgLen:])
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint16]uint32{}
	for ad.Next() {
		got[ad.Type()] = ad.Uint32()
	}
	if len(got) != 2 || got[ctaStatus] != 0 || got[ctaStatusMask] != ipsSeenReply {
		t.Errorf("filter attributes %v: want status 0 under mask IPS_SEEN_REPLY", got)
	}
}

func TestReadCTTimeouts(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "sys/net/netfilter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"nf_conntrack_tcp_timeout_syn_sent": "300\n", "nf_conntrack_udp_timeout": "garbage\n", "nf_conntrack_icmp_timeout": "0\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Unreadable, unparsable or zero values keep the defaults.
	if got, want := readCTTimeouts(root), (ctTimeouts{tcpSynSent: 300, udp: 30, icmp: 30, icmpv6: 30}); got != want {
		t.Errorf("timeouts %+v, want %+v", got, want)
	}
}

// FuzzDecodeCTEntry: no entry may panic the decoder, and what it accepts
// classifies into the fixed label set.
func FuzzDecodeCTEntry(f *testing.F) {
	for _, b := range fixtureCTEntries(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeCTEntry(b)
		if err != nil {
			return
		}
		var c ctUnrepliedCounts
		c.add(e, ctDefaultTimeouts)
		_ = gatherValues(t, func(ch chan<- prometheus.Metric) { emitCTUnreplied("fuzz", c, ch) })
	})
}

// A namespace with no conntrack entry has no unreplied one: zeros are
// exported without dumping (which would walk the machine-wide table).
func TestConntrackUnrepliedSkipsEmptyNamespace(t *testing.T) {
	c := &conntrackUnrepliedCollector{ct: testConntrackCollector(t.TempDir(), t.TempDir(), nil), limit: 10}
	got := gatherValues(t, func(ch chan<- prometheus.Metric) {
		if err := c.updateUnreplied(netns.Target{Name: "empty"}, ctSnapshot{hasEntries: true}, ch); err != nil {
			t.Error(err)
		}
	})
	if len(got) != len(ctNATNames)*len(ctProtoNames)+1 {
		t.Errorf("%d series, want %d", len(got), len(ctNATNames)*len(ctProtoNames)+1)
	}
	for k, v := range got {
		if v != 0 {
			t.Errorf("%s = %v, want 0", k, v)
		}
	}
}
